// Package schedbatch puts every thread of the process under Linux's
// SCHED_BATCH scheduling policy.
//
// A SCHED_BATCH thread gets the same share of the CPU as a normal one,
// but its wake-ups do not preempt the thread running on the CPU it lands
// on: it runs when that one blocks or its time slice ends. An origin runs
// beside the proxy on the same cores in the benchmarks' shop mix and in
// `make run`; each of its answers wakes it, and a wake-up that preempts
// the proxy in the middle of its work costs both a context switch, which
// is dear on a VM. Under the shop mix at 80x and 100x, 12 alternated
// pairs of runs (in both orders), batch origins took less CPU per request
// in 10 (by 4-13 %) and the mix's p99 was lower in 9 (benchmarks/README.md).
//
// Threads inherit the policy of the thread that creates them, so once
// every thread has it, every thread the Go runtime starts later has it
// too. No privilege is needed to move a normal thread to SCHED_BATCH.
package schedbatch

import "errors"

// ErrUnsupported: the platform has no SCHED_BATCH.
var ErrUnsupported = errors.New("SCHED_BATCH is Linux's")
