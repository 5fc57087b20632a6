// Go twin of bench/heartbeat.c: the cost of a pulse.
//
//	pulse_cost         CPU time per pulse of 500 workers with 1 ms interval
//	                   heartbeats, each waiting to send a result nobody
//	                   takes: the book's sendResult loop (select over done,
//	                   the pulse tick and the results send; on a tick, a
//	                   non-blocking send of the pulse). 1 s; process CPU time
//	                   (user + system) divided by the pulses sent. ns per pulse.
//	pulse_select_loop  the same select loop run hot, once per pulse, the
//	                   ticker simulated by a non-blocking send on a tick
//	                   channel of capacity 1. ns per pulse.
//
// The pulse is the book's struct{}{}; keel's carries a sequence number,
// progress and the tick's time.
package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func pulseCost(workers int, interval, duration time.Duration) {
	done := make(chan interface{})
	results := make(chan int) // nobody reads
	var pulses int64
	var started, finished sync.WaitGroup
	started.Add(workers)
	finished.Add(workers)
	for i := 0; i < workers; i++ {
		go func() {
			defer finished.Done()
			heartbeat := make(chan interface{}, 1)
			pulse := time.NewTicker(interval)
			defer pulse.Stop()
			sendPulse := func() {
				atomic.AddInt64(&pulses, 1)
				select {
				case heartbeat <- struct{}{}:
				default:
				}
			}
			started.Done()
			for { // sendResult(r)
				select {
				case <-done:
					return
				case <-pulse.C:
					sendPulse()
				case results <- 1:
					return
				}
			}
		}()
	}
	started.Wait()
	p0, c0 := atomic.LoadInt64(&pulses), cpuNs()
	time.Sleep(duration)
	c1, p1 := cpuNs(), atomic.LoadInt64(&pulses)
	close(done)
	finished.Wait()
	fmt.Printf("BENCH pulse_cost %.3f\n", float64(c1-c0)/float64(p1-p0))
}

func selectLoop(n int) time.Duration {
	done := make(chan struct{})
	tick := make(chan int64, 1)
	heartbeat := make(chan interface{}, 1)
	var results chan int // nil: the worker has nothing to send
	finished := make(chan time.Duration)
	go func() {
		start := time.Now()
		for i := 0; i < n; i++ {
			select { // the ticker fires
			case tick <- int64(i):
			default:
			}
			select {
			case <-done:
				return
			case <-tick:
				select { // sendPulse
				case heartbeat <- struct{}{}:
				default:
				}
			case results <- i:
			}
		}
		finished <- time.Since(start)
	}()
	return <-finished
}

func main() {
	pulseCost(500, time.Millisecond, time.Second)
	n := 1000000
	selectLoop(n / 10) // warm up
	elapsed := selectLoop(n)
	fmt.Printf("BENCH pulse_select_loop %.3f\n", float64(elapsed.Nanoseconds())/float64(n))
}
