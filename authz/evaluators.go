package authz

import (
	"context"
	"fmt"
	"time"
)

// evaluatorIdle is how long an evaluator goroutine waits for the next
// decision before it exits.
const evaluatorIdle = 10 * time.Second

// evaluators runs decisions on long-lived goroutines. OPA's evaluator
// recurses deeply: run on a fresh goroutine (net/http starts one per
// HTTP/2 request), each decision would grow the goroutine's stack from its
// initial size by copying it several times, which under load cost more
// than a tenth of the decision. An evaluator goroutine keeps its grown
// stack from one decision to the next; one is started whenever no idle one
// is waiting, and it exits after evaluatorIdle without work, so there is
// nothing to stop.
type evaluators struct {
	jobs chan *evalJob
}

type evalJob struct {
	ctx context.Context
	p   *Policy
	in  *Input
	out chan *Decision
}

func newEvaluators() evaluators { return evaluators{jobs: make(chan *evalJob)} }

// decide evaluates in with p on an evaluator goroutine and waits for the
// decision.
func (ev evaluators) decide(ctx context.Context, p *Policy, in *Input) *Decision {
	j := &evalJob{ctx: ctx, p: p, in: in, out: make(chan *Decision, 1)}
	select {
	case ev.jobs <- j:
	default:
		go ev.run(j)
	}
	return <-j.out
}

func (ev evaluators) run(j *evalJob) {
	idle := time.NewTimer(evaluatorIdle)
	defer idle.Stop()
	for {
		j.out <- safeDecide(j)
		idle.Reset(evaluatorIdle)
		select {
		case j = <-ev.jobs:
		case <-idle.C:
			return
		}
	}
}

// safeDecide evaluates j; a panic in the evaluator denies with an error
// instead of ending the process (net/http would have recovered it on the
// request's own goroutine).
func safeDecide(j *evalJob) (d *Decision) {
	defer func() {
		if r := recover(); r != nil {
			d = deny(&Decision{Revision: j.p.revision}, fmt.Errorf("authz: evaluation panicked: %v", r))
		}
	}()
	return j.p.decide(j.ctx, j.in)
}
