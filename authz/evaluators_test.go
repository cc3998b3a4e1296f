package authz_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/tongxing/tongxing/authz"
)

// TestEngineDecidesConcurrently checks that decisions made on the
// engine's evaluator goroutines, many at once, are each the decision the
// policy gives for that input.
func TestEngineDecidesConcurrently(t *testing.T) {
	p := examplePolicy(t)
	e := authz.NewEngine()
	e.Swap(p)
	ctx := context.Background()
	inputs := []*authz.Input{
		input("tax", "gongan", "gongan.population-stats", ""),
		input("tax", "gongan", "gongan.household", "P-IIT-VERIFY"),
		input("tax", "renshe", "renshe.social-insurance", "P-IIT-VERIFY"),
		input("tax", "renshe", "renshe.social-insurance", ""),
	}
	want := make([]*authz.Decision, len(inputs))
	for i, in := range inputs {
		want[i] = p.Decide(ctx, in)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64*len(inputs))
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range inputs {
				k := (g + i) % len(inputs)
				got := e.Decide(ctx, inputs[k])
				if got.Allow != want[k].Allow || !slices.Equal(got.Reasons, want[k].Reasons) || !slices.Equal(got.Fields, want[k].Fields) {
					errs <- fmt.Errorf("input %d: got %+v, want %+v", k, got, want[k])
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestEngineEvaluationPanicDenies shows that a panic while deciding (here
// a nil input) is a denial with an error, not the end of the process.
func TestEngineEvaluationPanicDenies(t *testing.T) {
	e := authz.NewEngine()
	e.Swap(examplePolicy(t))
	d := e.Decide(context.Background(), nil)
	if d.Allow || d.Error == nil {
		t.Fatalf("decision for a nil input: %+v", d)
	}
	// The engine still decides afterwards.
	if d := e.Decide(context.Background(), input("tax", "gongan", "gongan.population-stats", "")); !d.Allow {
		t.Fatalf("after a panic: %+v", d)
	}
}
