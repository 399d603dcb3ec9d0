package resolvers

import (
	"github.com/99designs/gqlgen/graphql"

	"context"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/internal/metering"
)

// instanceRef is what metering needs of an instance row.
func instanceRef(i *ent.Instance) metering.InstanceRef {
	r := metering.InstanceRef{ID: i.ID}
	if i.LicenseID != nil {
		r.LicenseID = *i.LicenseID
	}
	return r
}

// siblingInstances returns the instances of the list an instance was
// resolved in (a connection page, nodes, a license's instances), so that a
// per-row field can read for all of them at once. It walks up the field
// contexts to the nearest list of instances; an instance outside any list
// has no siblings.
func siblingInstances(ctx context.Context) []metering.InstanceRef {
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		var out []metering.InstanceRef
		switch v := fc.Result.(type) {
		case *ent.InstanceConnection:
			if v == nil {
				continue
			}
			for _, e := range v.Edges {
				if e != nil && e.Node != nil {
					out = append(out, instanceRef(e.Node))
				}
			}
		case []*ent.InstanceEdge:
			for _, e := range v {
				if e != nil && e.Node != nil {
					out = append(out, instanceRef(e.Node))
				}
			}
		case []*ent.Instance:
			for _, i := range v {
				if i != nil {
					out = append(out, instanceRef(i))
				}
			}
		case []ent.Noder:
			for _, n := range v {
				if i, ok := n.(*ent.Instance); ok {
					out = append(out, instanceRef(i))
				}
			}
		default:
			continue
		}
		return out
	}
	return nil
}
