package policy

import (
	"context"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Engine holds an organization's current Prepared. Load, Swap and Eval are
// safe for concurrent use; a reload swaps the pointer, so every evaluation
// sees one whole policy set.
type Engine struct {
	p atomic.Pointer[Prepared]
}

// NewEngine returns an Engine serving p (Default() when p is nil).
func NewEngine(p *Prepared) *Engine {
	if p == nil {
		p = Default()
	}
	e := &Engine{}
	e.p.Store(p)
	return e
}

// Load returns the current Prepared.
func (e *Engine) Load() *Prepared { return e.p.Load() }

// Swap installs p and returns the previous Prepared.
func (e *Engine) Swap(p *Prepared) *Prepared { return e.p.Swap(p) }

// Reload compiles custom modules and installs the result; on error the
// current Prepared stays in place and the CompileErrors are returned.
func (e *Engine) Reload(custom []Module, opts ...Option) error {
	p, err := Compile(custom, opts...)
	if err != nil {
		return err
	}
	e.p.Store(p)
	return nil
}

// Eval evaluates with the current Prepared.
func (e *Engine) Eval(ctx context.Context, input ast.Value) (Result, error) {
	return e.p.Load().Eval(ctx, input)
}
