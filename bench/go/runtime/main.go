// The Go twin of bench/runtime.c: the same cases, the same names.
package main

import (
	"fmt"
	"sync"
	"syscall"
	"time"
)

func report(name string, elapsed time.Duration, ops int) {
	fmt.Printf("BENCH %s %.3f\n", name, float64(elapsed.Nanoseconds())/float64(ops))
}

func spawnJoin() {
	n := 2000000
	var wg sync.WaitGroup
	for i := 0; i < 10000; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
	}
	report("spawn_join", time.Since(t0), n)
}

func massRound(n int) time.Duration {
	var started, finished sync.WaitGroup
	gate := make(chan struct{})
	started.Add(n)
	finished.Add(n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-gate
			finished.Done()
		}()
	}
	started.Wait()
	close(gate)
	finished.Wait()
	return time.Since(t0)
}

func mass() {
	n := 1000000
	report("spawn_1m_park_wall", massRound(n), 1)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("BENCH spawn_1m_peak_rss %.3f KiB\n", float64(ru.Maxrss))
	report("spawn_1m_park_wall_warm", massRound(n), 1)
}

func main() {
	spawnJoin()
	mass()
}
