package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Fired is one rule body that succeeded during an evaluation.
type Fired struct {
	// Rule is the rule's full path, e.g. data.entitled.custom.eu.deny.
	Rule string `json:"rule"`
	// Kind is "deny" or "grant" (a custom rule adding a message), "rule"
	// (another custom rule: a helper) or "default" (the default rule that
	// gave the default decision).
	Kind string `json:"kind"`
	// File is the custom module's name, or default/<file> for the default
	// policy; Row and Col locate the rule.
	File string `json:"file"`
	Row  int    `json:"row"`
	Col  int    `json:"col"`
	// Message is what the rule produced: the deny/grant message, the
	// default decision's reason and message, or a helper's value
	// (shortened).
	Message string `json:"message"`
}

func (f Fired) String() string {
	return fmt.Sprintf("%s:%d: %s %s: %s", f.File, f.Row, f.Kind, f.Rule, f.Message)
}

// Explanation is the list of rules that fired, in evaluation order.
type Explanation []Fired

// String renders one rule per line: "file:row: kind rule: message".
func (e Explanation) String() string {
	var b strings.Builder
	for i, f := range e {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(f.String())
	}
	return b.String()
}

// maxExplained bounds an explanation (a policy may fire many helper rules).
const maxExplained = 200

// defaultExplained are the default rules whose bodies say why the default
// decision is what it is.
var defaultExplained = map[string]bool{"base": true, "type_refusal": true, "checked": true}

// Explain evaluates like Eval and also reports which rules fired and why
// (Result.Explanation). It traces the evaluation, so it is slower than Eval;
// Eval itself never traces.
func (p *Prepared) Explain(ctx context.Context, input ast.Value) (Result, error) {
	cancel, release := p.cancelFor(ctx, p.timeout)
	defer release()
	tr := &explainTracer{seen: map[string]bool{}}
	rs, err := p.query.Eval(withEvalBudget(ctx), rego.EvalParsedInput(input), rego.EvalExternalCancel(cancel),
		rego.EvalQueryTracer(tr))
	if err != nil {
		return Result{}, p.evalError(ctx, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return Result{}, errors.New("policy evaluation: data.entitled.decision is undefined")
	}
	t, _ := rs[0].Expressions[0].Value.(*ast.Term)
	res, err := toResult(t, p.version)
	if err != nil {
		return Result{}, err
	}
	res.Explanation = tr.fired
	if res.Explanation == nil {
		res.Explanation = Explanation{}
	}
	return res, nil
}

type explainTracer struct {
	fired Explanation
	seen  map[string]bool
}

func (*explainTracer) Enabled() bool { return true }

func (*explainTracer) Config() topdown.TraceConfig { return topdown.TraceConfig{} }

func (t *explainTracer) TraceEvent(evt topdown.Event) {
	if evt.Op != topdown.ExitOp || len(t.fired) >= maxExplained {
		return
	}
	rule, ok := evt.Node.(*ast.Rule)
	if !ok || rule.Location == nil || rule.Module == nil {
		return
	}
	file := rule.Location.File
	ref := rule.Module.Package.Path.Extend(rule.Head.Ref().GroundPrefix())
	f := Fired{Rule: ref.String(), Row: rule.Location.Row, Col: rule.Location.Col}
	switch {
	case strings.HasPrefix(file, customPrefix):
		f.File = strings.TrimPrefix(file, customPrefix)
		name := ""
		if r := rule.Head.Ref(); len(r) > 0 {
			if s, ok := r[len(r)-1].Value.(ast.String); ok {
				name = string(s)
			} else if v, ok := r[len(r)-1].Value.(ast.Var); ok && len(r) == 1 {
				name = string(v)
			}
		}
		switch {
		case strings.HasPrefix(ruleName(rule), "test_"):
			return
		case (name == "deny" || name == "grant") && rule.Head.Key != nil:
			f.Kind = name
			f.Message = render(evt.Plug(rule.Head.Key))
		default:
			f.Kind = "rule"
			switch {
			case rule.Head.Key != nil:
				f.Message = render(evt.Plug(rule.Head.Key))
			case rule.Head.Value != nil:
				f.Message = render(evt.Plug(rule.Head.Value))
			}
		}
	case strings.HasPrefix(file, defaultPrefix) && defaultExplained[ruleName(rule)] && rule.Head.Value != nil:
		f.File = file
		f.Kind = "default"
		v := evt.Plug(rule.Head.Value)
		obj, ok := v.Value.(ast.Object)
		if !ok {
			return // e.g. base := checked: checked is reported itself
		}
		f.Message = render(obj.Get(keyReason))
		if rs, ok := obj.Get(keyReasons).Value.(*ast.Array); ok && rs.Len() > 0 {
			f.Message += ": " + render(rs.Elem(0))
		}
	default:
		return
	}
	key := fmt.Sprintf("%s:%d:%d:%s", f.File, f.Row, f.Col, f.Message)
	if t.seen[key] {
		return
	}
	t.seen[key] = true
	t.fired = append(t.fired, f)
}

// render shows a value for a person: strings as they are, anything else as
// Rego, both shortened.
func render(t *ast.Term) string {
	if t == nil {
		return ""
	}
	s := ""
	if str, ok := t.Value.(ast.String); ok {
		s = string(str)
	} else {
		s = boundedString(t.Value, 200)
	}
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}
