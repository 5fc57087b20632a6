// Go twin of bench/ctx.c: the context package.
//
//	ctx_child_create_cancel  WithCancel on a parent with 1,000 live children,
//	                         then cancel(); ns per child.
//	ctx_is_canceled          select { case <-ctx.Done(): default: }, the
//	                         cheapest "is it canceled?" check; ns per check.
//	ctx_cancel_tree_100k     a complete 10-ary tree of 100,000 descendants,
//	                         Done() called on every node beforehand; wall time
//	                         of cancel(root) plus a receive on every done
//	                         channel; the median of 11 trees, in ns.
//	ctx_recv / plain_recv    send then receive on a buffered channel (cap
//	                         1024), the receive in a select with ctx.Done(), or
//	                         plain; ns per pair.
package main

import (
	"context"
	"fmt"
	"sort"
	"time"
)

func report(name string, elapsed time.Duration, ops int) {
	fmt.Printf("BENCH %s %.3f\n", name, float64(elapsed.Nanoseconds())/float64(ops))
}

func childCreateCancel() {
	parent, cancelParent := context.WithCancel(context.Background())
	kids := make([]context.CancelFunc, 1000)
	for i := range kids {
		_, kids[i] = context.WithCancel(parent)
	}
	const n = 2000000
	start := time.Now()
	for i := 0; i < n; i++ {
		_, cancel := context.WithCancel(parent)
		cancel()
	}
	report("ctx_child_create_cancel", time.Since(start), n)
	cancelParent()
}

func isCanceled() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 200000000
	hits := 0
	done := ctx.Done()
	start := time.Now()
	for i := 0; i < n; i++ {
		select {
		case <-done:
			hits++
		default:
		}
	}
	el := time.Since(start)
	if hits != 0 {
		panic("canceled")
	}
	report("ctx_is_canceled", el, n)
}

const tree = 100000
const fanout = 10

func cancelTree() {
	const reps = 11
	took := make([]time.Duration, reps)
	nodes := make([]context.Context, tree+1)
	cancels := make([]context.CancelFunc, tree+1)
	dones := make([]<-chan struct{}, tree+1)
	for r := 0; r < reps; r++ {
		nodes[0], cancels[0] = context.WithCancel(context.Background())
		dones[0] = nodes[0].Done()
		for i := 1; i <= tree; i++ {
			nodes[i], cancels[i] = context.WithCancel(nodes[(i-1)/fanout])
			dones[i] = nodes[i].Done()
		}
		start := time.Now()
		cancels[0]()
		for i := 0; i <= tree; i++ {
			<-dones[i]
		}
		took[r] = time.Since(start)
		for i := tree; i >= 0; i-- {
			cancels[i]()
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	report("ctx_cancel_tree_100k", took[reps/2], 1) // the median tree
}

func recvOverhead() {
	ch := make(chan int64, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 10000000
	var sum int64
	done := ctx.Done()
	start := time.Now()
	for i := int64(0); i < n; i++ {
		ch <- i
		select {
		case v := <-ch:
			sum += v
		case <-done:
			panic("canceled")
		}
	}
	report("ctx_recv", time.Since(start), n)
	start = time.Now()
	for i := int64(0); i < n; i++ {
		ch <- i
		sum += <-ch
	}
	report("plain_recv", time.Since(start), n)
	if sum == 42 {
		fmt.Println()
	}
}

func main() {
	childCreateCancel()
	isCanceled()
	cancelTree()
	recvOverhead()
}
