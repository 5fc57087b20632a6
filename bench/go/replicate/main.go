// Go twin of bench/replicate.c: the book's replicated-requests pattern.
//
//	replicate10_instant   one request to 10 goroutines that answer at once:
//	                      context.WithCancel, first answer via a channel,
//	                      cancel, wait for all (sync.WaitGroup). ns per call.
//	first_of_3_overhead   first of 3: two handlers wait until canceled, one
//	                      answers after a short sleep; ns per call beyond the
//	                      winner's own (measured) sleep.
package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

type answer struct {
	id   int
	took time.Duration
}

func replicate(parent context.Context, n int, handler func(ctx context.Context, id int) (time.Duration, bool)) answer {
	ctx, cancel := context.WithCancel(parent)
	result := make(chan answer, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(id int) {
			defer wg.Done()
			if took, ok := handler(ctx, id); ok {
				result <- answer{id, took}
			}
		}(i)
	}
	first := <-result
	cancel()
	wg.Wait()
	return first
}

func instant(ctx context.Context, id int) (time.Duration, bool) { return 0, true }

const winnerSleep = 50 * time.Microsecond

func firstOf3(ctx context.Context, id int) (time.Duration, bool) {
	if id != 1 {
		<-ctx.Done()
		return 0, false
	}
	start := time.Now()
	t := time.NewTimer(winnerSleep)
	defer t.Stop()
	select {
	case <-t.C:
		return time.Since(start), true
	case <-ctx.Done():
		return 0, false
	}
}

func main() {
	bg := context.Background()
	for i := 0; i < 10000; i++ {
		replicate(bg, 10, instant)
	}
	n := 200000
	start := time.Now()
	for i := 0; i < n; i++ {
		replicate(bg, 10, instant)
	}
	fmt.Printf("BENCH replicate10_instant %.3f\n", float64(time.Since(start).Nanoseconds())/float64(n))

	n = 5000
	var over time.Duration
	for i := 0; i < n; i++ {
		s := time.Now()
		a := replicate(bg, 3, firstOf3)
		over += time.Since(s) - a.took
	}
	fmt.Printf("BENCH first_of_3_overhead %.3f\n", float64(over.Nanoseconds())/float64(n))
}
