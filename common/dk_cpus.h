/* The CPUs a process may run on and the CPUs of its node: enough to tell when a job
 * starts more OpenMP threads than there are cores for them. */
#ifndef DK_CPUS_H
#define DK_CPUS_H

/* CPUs in this process's affinity mask (what a launcher's binding left it); the node's
 * online CPUs where the mask cannot be read. At least 1. */
int dk_cpus_own(void);

/* Online CPUs of this node. At least 1. */
int dk_cpus_node(void);

#endif
