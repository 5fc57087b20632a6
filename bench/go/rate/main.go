// Go twin of bench/rate.c: golang.org/x/time/rate on the same cases.
package main

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

var sink int

func report(name string, d time.Duration, n int) {
	fmt.Printf("BENCH %s %.3f\n", name, float64(d.Nanoseconds())/float64(n))
}

func allow1() {
	l := rate.NewLimiter(rate.Limit(1e12), 1<<40)
	n, ok := 5000000, 0
	for i := 0; i < 100000; i++ {
		if l.Allow() {
			ok++
		}
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if l.Allow() {
			ok++
		}
	}
	report("rate_allow_1thread", time.Since(t0), n)
	sink = ok
}

func allowRefused() {
	l := rate.NewLimiter(rate.Limit(1e-3), 1)
	l.Allow()
	n, ok := 5000000, 0
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if l.Allow() {
			ok++
		}
	}
	report("rate_allow_refused_1thread", time.Since(t0), n)
	sink = ok
}

func allow2() {
	l := rate.NewLimiter(rate.Limit(1e12), 1<<40)
	n := 3000000
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok := 0
			for i := 0; i < n; i++ {
				if l.Allow() {
					ok++
				}
			}
			sink += ok
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	report("rate_allow_2threads", time.Since(t0), 2*n)
}

func reserveCancel() {
	l := rate.NewLimiter(rate.Limit(1e12), 1<<40)
	n, ok := 3000000, 0
	t0 := time.Now()
	for i := 0; i < n; i++ {
		r := l.Reserve()
		if r.OK() {
			ok++
		}
		r.Cancel()
	}
	report("rate_reserve_cancel", time.Since(t0), n)
	sink = ok
}

type keyed struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func (k *keyed) allow(key string) bool {
	k.mu.Lock()
	l, ok := k.m[key]
	if !ok {
		l = rate.NewLimiter(rate.Limit(1e6), 100)
		k.m[key] = l
	}
	k.mu.Unlock()
	return l.Allow()
}

func keyed100k() {
	const keys = 100000
	k := &keyed{m: make(map[string]*rate.Limiter)}
	names := make([]string, keys)
	for i := range names {
		names[i] = "client-" + strconv.Itoa(i)
		k.allow(names[i])
	}
	n, ok := 3000000, 0
	x := uint64(1)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		if k.allow(names[(x>>33)%keys]) {
			ok++
		}
	}
	report("rate_keyed_allow_100k_keys", time.Since(t0), n)
	sink = ok
}

// The clock alone (keel: keel_rate_now()).
func floorClock() {
	n := 20000000
	var acc int64
	t0 := time.Now()
	for i := 0; i < n; i++ {
		acc += time.Now().UnixNano()
	}
	report("rate_floor_clock", time.Since(t0), n)
	sink = int(acc)
}

func main() {
	allow1()
	allowRefused()
	allow2()
	reserveCancel()
	keyed100k()
	floorClock()
}
