// Go twin of bench/steward.c: the book's steward ("Healing Unhealthy
// Goroutines"), measured.
//
//	detection_latency_fraction  a ward pulses three times, half a timeout
//	                            apart, then falls silent; the time from its
//	                            last pulse to the start of the next ward,
//	                            divided by the timeout (20 ms). Median of 30.
//	                            Unit: fraction (1.0 = exactly one timeout).
//	restart_cost                a ward that ends at once (closes its
//	                            heartbeat); the steward halts it (close its
//	                            done) and starts the next. ns per restart.
//	                            The book's steward only restarts on a
//	                            timeout; this twin adds the one case keel's
//	                            steward has: restart when the heartbeat closes.
package main

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"
)

type startGoroutineFn func(done <-chan interface{}, pulseInterval time.Duration) (heartbeat <-chan interface{})

func or(channels ...<-chan interface{}) <-chan interface{} {
	switch len(channels) {
	case 0:
		return nil
	case 1:
		return channels[0]
	}
	orDone := make(chan interface{})
	go func() {
		defer close(orDone)
		switch len(channels) {
		case 2:
			select {
			case <-channels[0]:
			case <-channels[1]:
			}
		default:
			select {
			case <-channels[0]:
			case <-channels[1]:
			case <-channels[2]:
			case <-or(append(channels[3:], orDone)...):
			}
		}
	}()
	return orDone
}

// newSteward is the book's, plus `restartOnClose`: a closed ward heartbeat
// restarts the ward at once (the book would spin on the closed channel).
func newSteward(timeout time.Duration, startGoroutine startGoroutineFn, restartOnClose bool) startGoroutineFn {
	return func(done <-chan interface{}, pulseInterval time.Duration) <-chan interface{} {
		heartbeat := make(chan interface{})
		go func() {
			defer close(heartbeat)
			var wardDone chan interface{}
			var wardHeartbeat <-chan interface{}
			startWard := func() {
				wardDone = make(chan interface{})
				wardHeartbeat = startGoroutine(or(wardDone, done), timeout/2)
			}
			startWard()
			pulse := time.Tick(pulseInterval)
		monitorLoop:
			for {
				timeoutSignal := time.After(timeout)
				for {
					select {
					case <-pulse:
						select {
						case heartbeat <- struct{}{}:
						default:
						}
					case _, ok := <-wardHeartbeat:
						if !ok && restartOnClose {
							close(wardDone)
							startWard()
						}
						continue monitorLoop
					case <-timeoutSignal:
						close(wardDone)
						startWard()
						continue monitorLoop
					case <-done:
						return
					}
				}
			}
		}()
		return heartbeat
	}
}

func detectionLatency(timeout time.Duration, rounds int) {
	var lastPulse int64 // UnixNano of the silent ward's last pulse
	fractions := make([]float64, 0, rounds)
	enough := make(chan struct{})
	starts := 0
	ward := func(done <-chan interface{}, pulseInterval time.Duration) <-chan interface{} {
		now := time.Now().UnixNano()
		if starts > 0 && len(fractions) < rounds {
			last := atomic.LoadInt64(&lastPulse)
			fractions = append(fractions, float64(now-last)/float64(timeout))
			if len(fractions) == rounds {
				close(enough)
			}
		}
		starts++
		heartbeat := make(chan interface{}, 1)
		go func() {
			for i := 0; i < 3; i++ {
				if i > 0 {
					select {
					case <-done:
						return
					case <-time.After(pulseInterval):
					}
				}
				atomic.StoreInt64(&lastPulse, time.Now().UnixNano())
				select {
				case heartbeat <- struct{}{}:
				default:
				}
			}
			<-done // silent from now on
		}()
		return heartbeat
	}
	done := make(chan interface{})
	newSteward(timeout, ward, false)(done, time.Hour)
	<-enough
	close(done)
	sort.Float64s(fractions)
	fmt.Printf("BENCH detection_latency_fraction %.4f fraction\n", fractions[len(fractions)/2])
}

func restartCost(n int) {
	var starts int64
	enough := make(chan struct{})
	ward := func(done <-chan interface{}, pulseInterval time.Duration) <-chan interface{} {
		if atomic.AddInt64(&starts, 1) == int64(n) {
			close(enough)
		}
		heartbeat := make(chan interface{})
		go func() { close(heartbeat) }() // ends at once
		return heartbeat
	}
	done := make(chan interface{})
	start := time.Now()
	newSteward(time.Hour, ward, true)(done, time.Hour)
	<-enough
	elapsed := time.Since(start)
	close(done)
	fmt.Printf("BENCH restart_cost %.3f\n", float64(elapsed.Nanoseconds())/float64(n))
}

func main() {
	detectionLatency(20*time.Millisecond, 30)
	restartCost(200000)
}
