/* copy.h - bulk copies that keep the CPU caches for the hot path.
 *
 * rmq_copy_stream is memcpy for data the CPU will not read again soon: an
 * object buffer that the disk (O_DIRECT) or the network reads by DMA. A
 * plain memcpy of a 128 MiB object through the caches evicts the produce
 * path's working set (the I/O threads' request buffers, the WAL writer's
 * group, the client's own data on the same two cores) once per object and
 * costs a read of every destination line before it is written. Streaming
 * (non-temporal) stores skip both. bench/README.md "Streaming copies into
 * object buffers" has the figures. */
#ifndef RMQ_COMMON_COPY_H
#define RMQ_COMMON_COPY_H

#include <stddef.h>

/* Copy len bytes from src to dst (the regions must not overlap), writing dst
 * around the caches where the CPU can (x86-64: SSE2 streaming stores, then a
 * store fence, so the bytes are visible to other threads and to a following
 * write(2) when it returns); elsewhere, and for copies under 4 KiB, it is
 * memcpy. Borrows both buffers for the call only. */
void rmq_copy_stream(void *dst, const void *src, size_t len);
/* Which loop rmq_copy_stream uses on this CPU: 2 AVX-512F, 1 SSE2, 0 memcpy
 * (not x86-64). */
int rmq_copy_stream_path(void);
/* rmq_copy_stream through a given loop, at any length (tests compare every
 * loop with memcpy; a path this CPU lacks falls back to the next lower). */
void rmq_copy_stream_force(int path, void *dst, const void *src, size_t len);

#endif
