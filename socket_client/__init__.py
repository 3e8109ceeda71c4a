"""The core every client of the edge's socket shares (the demo client, the benchmarks, the
language server): the requests it has in flight and how each server frame lands in one."""
