// Twin of bench/err.c: github.com/pkg/errors, as the book's examples use it.
//   err_new_with_stack  errors.New (captures the stack)
//   err_wrap3           errors.New + three errors.Wrap (each captures a stack)
//   err_format_full     fmt.Sprintf("%+v", err) of the wrap3 error
// The calls sit three functions below main, as in the C benchmark.
package main

import (
	"fmt"
	"time"

	"github.com/pkg/errors"
)

var sink interface{}

//go:noinline
func makeNew() error { return errors.New("something failed") }

//go:noinline
func makeWrap3() error {
	e := errors.New("something failed")
	e = errors.Wrap(e, "layer one")
	e = errors.Wrap(e, "layer two")
	return errors.Wrap(e, "layer three")
}

func runNew(n int) time.Duration {
	t0 := time.Now()
	for i := 0; i < n; i++ {
		sink = makeNew()
	}
	return time.Since(t0)
}

func runWrap3(n int) time.Duration {
	t0 := time.Now()
	for i := 0; i < n; i++ {
		sink = makeWrap3()
	}
	return time.Since(t0)
}

func runFormat(n int) time.Duration {
	e := makeWrap3()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		sink = fmt.Sprintf("%+v", e)
	}
	return time.Since(t0)
}

// bench grows n until a run takes ~0.1 s, then reports the best of five
// such runs (as the C benchmark does).
//go:noinline
func bench(name string, fn func(int) time.Duration) {
	fn(100)
	n := 1000
	var dt time.Duration
	for {
		dt = fn(n)
		if dt > 100*time.Millisecond || n > 1<<30 {
			break
		}
		next := int(int64(n) * int64(120*time.Millisecond) / int64(dt+1))
		if next < n*2 {
			next = n * 2
		}
		n = next
	}
	for r := 0; r < 4; r++ {
		if again := fn(n); again < dt {
			dt = again
		}
	}
	fmt.Printf("BENCH %s %.3f\n", name, float64(dt.Nanoseconds())/float64(n))
}

func main() {
	bench("err_new_with_stack", runNew)
	bench("err_wrap3", runWrap3)
	bench("err_format_full", runFormat)
}
