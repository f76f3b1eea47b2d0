/* The CUDA emulator (see cuda_emu_internal.h): streams and events as deferred work, and
 * the copies and memsets queued on them. */
#include "cuda_emu_internal.h"

#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

namespace dk_emu::detail {

/* ---- streams and events: deferred work ------------------------------------------------
 *
 * Work queued on a stream runs only when something forces it: a synchronisation of the
 * stream, an event recorded after it being queried or synchronised, a stream waiting on such
 * an event, or a call that synchronises the device (cudaFree). So a missing wait leaves the
 * work undone and shows as stale data, deterministically. A query of an event whose work is
 * pending answers cudaErrorNotReady once (kept as the thread's last error, as CUDA does) and
 * runs the work, so polling loops meet "not ready" and still end. Copies from pageable host
 * memory take their source at the call, copies into it wait for the stream, as in CUDA. */

/* A queued item; `device` when it touches device memory (host functions and waits do not). */
struct work {
    std::function<void()> run;
    bool device;
};

struct stream_rec {
    unsigned flags;
    std::deque<work> queue;
    unsigned long issued = 0, done = 0;
};
struct event_rec {
    unsigned flags;
    bool recorded = false;
    stream_rec *stream = nullptr;
    unsigned long ticket = 0; /* the work of `stream` it waits for: the first `ticket` items */
    std::chrono::steady_clock::time_point when;
};

std::recursive_mutex work_m; /* every queue, and running their work */
std::set<const void *> live_streams, live_events;
/* Destroyed streams' records, kept: an event recorded on one, or a wait queued elsewhere
 * on such an event, still reads how far it got (all the way: destruction ran its work). */
std::vector<std::unique_ptr<stream_rec>> retired_streams;
stream_rec legacy_stream{cudaStreamDefault, {}, 0, 0}; /* the NULL stream */

stream_rec *stream_of(cudaStream_t s, const char *what)
{
    if (!s)
        return &legacy_stream;
    std::lock_guard<std::recursive_mutex> l(work_m);
    if (!live_streams.count(s)) {
        fail(cudaErrorInvalidResourceHandle, "%s: stream %p was never created or is destroyed", what, (void *)s);
        return nullptr;
    }
    return reinterpret_cast<stream_rec *>(s);
}

event_rec *event_of(cudaEvent_t e, const char *what)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    if (!e || !live_events.count(e)) {
        fail(cudaErrorInvalidResourceHandle, "%s: event %p was never created or is destroyed", what, (void *)e);
        return nullptr;
    }
    return reinterpret_cast<event_rec *>(e);
}

/* Runs the first `ticket` items of s's queue that have not run. */
void run_until(stream_rec *s, unsigned long ticket)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    while (s->done < ticket) {
        work w = std::move(s->queue.front());
        s->queue.pop_front();
        device_access open(w.device);
        w.run();
        s->done++;
    }
}

void run_all(stream_rec *s) { run_until(s, s->issued); }

/* Everything queued anywhere (what a device synchronisation waits for). */
void run_everything()
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    for (bool again = true; again;) {
        again = false;
        for (const void *p : live_streams) {
            stream_rec *s = reinterpret_cast<stream_rec *>(const_cast<void *>(p));
            if (s->done < s->issued) {
                run_all(s);
                again = true;
            }
        }
        if (legacy_stream.done < legacy_stream.issued) {
            run_all(&legacy_stream);
            again = true;
        }
    }
}

/* A new stream's or event's record, now a live handle. */
void *live_handle(std::set<const void *> &live, void *rec)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    live.insert(rec);
    return rec;
}

cudaError_t enqueue(cudaStream_t stream, std::function<void()> op, const char *what, bool device)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    stream_rec *s = stream_of(stream, what);
    if (!s)
        return cudaErrorInvalidResourceHandle;
    s->queue.push_back(work{std::move(op), device});
    s->issued++;
    return cudaSuccess;
}

/* Checks a copy's pointers against its kind; *dst_kind and *src_kind say what they are. */
cudaError_t check_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, const char *what,
                       kind_t *dst_kind, kind_t *src_kind)
{
    bool in_d = true, in_s = true;
    *dst_kind = kind_of(dst, bytes, &in_d);
    *src_kind = kind_of(src, bytes, &in_s);
    switch (kind) {
    case cudaMemcpyHostToDevice:
    case cudaMemcpyDeviceToHost:
    case cudaMemcpyDeviceToDevice:
    case cudaMemcpyHostToHost: {
        const bool want_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
        const bool want_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
        cudaError_t e = check_range(dst, bytes, want_dst, "destination", what);
        if (e == cudaSuccess)
            e = check_range(src, bytes, want_src, "source", what);
        return e;
    }
    case cudaMemcpyDefault:
        if (!in_d || !in_s)
            return fail(cudaErrorInvalidValue, "%s: %zu bytes run past the end of an allocation", what, bytes);
        return cudaSuccess;
    }
    return fail(cudaErrorInvalidMemcpyDirection, "%s: copy kind %d", what, (int)kind);
}

/* cudaMemcpyAsync's timing: pinned and device memory are read and written when the stream
 * gets there; a pageable source is read now, a pageable destination waits for the stream. */
cudaError_t copy_async(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream,
                       const char *what, bool synchronous = false)
{
    if (bytes == 0)
        return cudaSuccess;
    kind_t dk, sk;
    cudaError_t e = check_copy(dst, src, bytes, kind, what, &dk, &sk);
    if (e != cudaSuccess)
        return e;
    stream_rec *s = stream_of(stream, what);
    if (!s)
        return cudaErrorInvalidResourceHandle;
    if (dk == DEVICE && sk == DEVICE)
        count(&stats::d2d_copies), count(&stats::d2d_bytes, bytes);
    else if (dk == DEVICE)
        count(&stats::h2d_copies), count(&stats::h2d_bytes, bytes);
    else if (sk == DEVICE)
        count(&stats::d2h_copies), count(&stats::d2h_bytes, bytes);
    if (synchronous || dk == HOST) /* a pageable destination: the host waits for the stream */
        count(&stats::host_waits);
    if (dk == HOST) {
        std::lock_guard<std::recursive_mutex> l(work_m);
        run_all(s);
        device_access open(true);
        std::memmove(dst, src, bytes);
        return cudaSuccess;
    }
    if (sk == HOST) {
        std::shared_ptr<unsigned char> taken(new unsigned char[bytes], std::default_delete<unsigned char[]>());
        std::memcpy(taken.get(), src, bytes);
        return enqueue(stream, [dst, taken, bytes] { std::memcpy(dst, taken.get(), bytes); }, what);
    }
    return enqueue(stream, [dst, src, bytes] { std::memmove(dst, src, bytes); }, what);
}

cudaError_t set_async(void *dst, int value, size_t bytes, cudaStream_t stream, const char *what)
{
    if (bytes == 0)
        return cudaSuccess;
    cudaError_t e = check_range(dst, bytes, true, "destination", what);
    if (e != cudaSuccess)
        return e;
    count(&stats::memsets);
    return enqueue(stream, [dst, value, bytes] { std::memset(dst, value, bytes); }, what);
}

} /* namespace dk_emu::detail */

using namespace dk_emu::detail;

extern "C" {

/* The synchronous forms: after the legacy stream's work, done before returning. */
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind)
{
    cudaError_t e = copy_async(dst, src, bytes, kind, nullptr, "cudaMemcpy", true);
    run_all(&legacy_stream);
    return e;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind, cudaStream_t stream)
{
    return copy_async(dst, src, bytes, kind, stream, "cudaMemcpyAsync");
}

/* Asynchronous for device memory, as in CUDA: queued on the legacy stream. */
cudaError_t cudaMemset(void *dst, int value, size_t bytes)
{
    return set_async(dst, value, bytes, nullptr, "cudaMemset");
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream)
{
    return set_async(dst, value, bytes, stream, "cudaMemsetAsync");
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned flags)
{
    *stream = reinterpret_cast<cudaStream_t>(live_handle(live_streams, new stream_rec{flags, {}, 0, 0}));
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

/* Pending work still completes, as CUDA lets it. */
cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    if (!stream)
        return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy(NULL): the legacy stream is not destroyed");
    stream_rec *s = stream_of(stream, "cudaStreamDestroy");
    if (!s)
        return cudaErrorInvalidResourceHandle;
    run_all(s);
    live_streams.erase(stream);
    retired_streams.emplace_back(s);
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    stream_rec *s = stream_of(stream, "cudaStreamSynchronize");
    if (!s)
        return cudaErrorInvalidResourceHandle;
    count(&stats::host_waits);
    run_all(s);
    return cudaSuccess;
}

/* The stream waits for the work the event's latest record covers (taken now, as in CUDA). */
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    event_rec *r = event_of(event, "cudaStreamWaitEvent");
    if (!r)
        return cudaErrorInvalidResourceHandle;
    if (!r->recorded)
        return stream_of(stream, "cudaStreamWaitEvent") ? cudaSuccess : cudaErrorInvalidResourceHandle;
    stream_rec *producer = r->stream;
    const unsigned long ticket = r->ticket;
    return enqueue(
        stream, [producer, ticket] { run_until(producer, ticket); }, "cudaStreamWaitEvent", false);
}

cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void *user_data)
{
    return enqueue(stream, [fn, user_data] { fn(user_data); }, "cudaLaunchHostFunc", false);
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned flags)
{
    event_rec *e = new event_rec;
    e->flags = flags;
    *event = reinterpret_cast<cudaEvent_t>(live_handle(live_events, e));
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

/* Waits that were queued on the event keep their own copy of what it covered. */
cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    if (!event || !live_events.erase(event))
        return fail(cudaErrorInvalidResourceHandle, "cudaEventDestroy(%p): no such event", (void *)event);
    delete reinterpret_cast<event_rec *>(event);
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    event_rec *r = event_of(event, "cudaEventRecord");
    stream_rec *s = stream_of(stream, "cudaEventRecord");
    if (!r || !s)
        return cudaErrorInvalidResourceHandle;
    r->recorded = true;
    r->stream = s;
    r->ticket = s->issued;
    r->when = std::chrono::steady_clock::now(); /* host time at the record: timings mean nothing here */
    return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    event_rec *r = event_of(event, "cudaEventQuery");
    if (!r)
        return cudaErrorInvalidResourceHandle;
    count(&stats::event_queries);
    if (!r->recorded || r->stream->done >= r->ticket)
        return cudaSuccess;
    run_until(r->stream, r->ticket);
    last_error = cudaErrorNotReady;
    return cudaErrorNotReady;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    event_rec *r = event_of(event, "cudaEventSynchronize");
    if (!r)
        return cudaErrorInvalidResourceHandle;
    count(&stats::host_waits);
    if (r->recorded)
        run_until(r->stream, r->ticket);
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    event_rec *a = event_of(start, "cudaEventElapsedTime"), *b = event_of(end, "cudaEventElapsedTime");
    if (!a || !b)
        return cudaErrorInvalidResourceHandle;
    if ((a->flags | b->flags) & cudaEventDisableTiming || !a->recorded || !b->recorded)
        return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event without timing or not recorded");
    run_until(a->stream, a->ticket);
    run_until(b->stream, b->ticket);
    *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
    return cudaSuccess;
}

} /* extern "C" */
