// Go twin of bench/chan.c: channels, select and timers.
//
//	pingpong_unbuffered   two goroutines bounce an int over two unbuffered
//	                      channels; ns per round trip.
//	buffered_1024         a producer goroutine sends ints to a consumer
//	                      through a channel of capacity 1024; ns per message.
//	select4_one_ready     a select over 4 receive cases, one channel holding
//	                      values (pre-filled), three empty; ns per select.
//	timer_create_stop     time.NewTimer(time.Hour) then Stop; ns per pair.
package main

import (
	"fmt"
	"time"
)

func report(name string, elapsed time.Duration, ops int) {
	fmt.Printf("BENCH %s %.3f\n", name, float64(elapsed.Nanoseconds())/float64(ops))
}

func pingpong(n int) time.Duration {
	ping, pong := make(chan int), make(chan int)
	done := make(chan struct{})
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			v := <-ping
			pong <- v + 1
		}
		close(done)
	}()
	go func() {
		v := 0
		for i := 0; i < n; i++ {
			ping <- v
			v = <-pong
		}
	}()
	<-done
	return time.Since(start)
}

func buffered(n int) time.Duration {
	c := make(chan int, 1024)
	done := make(chan int)
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			c <- i
		}
	}()
	go func() {
		sum := 0
		for i := 0; i < n; i++ {
			sum += <-c
		}
		done <- sum
	}()
	<-done
	return time.Since(start)
}

func select4(n int) time.Duration {
	ready := make(chan int, n)
	for i := 0; i < n; i++ {
		ready <- i
	}
	a, b, c := make(chan int), make(chan int), make(chan int)
	done := make(chan time.Duration)
	go func() {
		sum := 0
		start := time.Now()
		for i := 0; i < n; i++ {
			select {
			case v := <-a:
				sum += v
			case v := <-ready:
				sum += v
			case v := <-b:
				sum += v
			case v := <-c:
				sum += v
			}
		}
		done <- time.Since(start)
	}()
	return <-done
}

func timers(n int) time.Duration {
	start := time.Now()
	for i := 0; i < n; i++ {
		t := time.NewTimer(time.Hour)
		t.Stop()
	}
	return time.Since(start)
}

func main() {
	pingpong(10000) // warm up the scheduler
	n := 500000
	report("pingpong_unbuffered", pingpong(n), n)
	n = 4000000
	report("buffered_1024", buffered(n), n)
	n = 2000000
	report("select4_one_ready", select4(n), n)
	n = 2000000
	report("timer_create_stop", timers(n), n)
}
