#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "dk_cpus.h"

#include <sched.h>
#include <unistd.h>

int dk_cpus_node(void)
{
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int dk_cpus_own(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return dk_cpus_node();
    const int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}
