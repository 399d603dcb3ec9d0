package resolvers

import (
	"github.com/entitled/entitled/graph/model"
	"github.com/entitled/entitled/internal/events"
)

// verification is an events.Verification as the API shows it.
func verification(v *events.Verification) *model.AuditChainVerification {
	out := &model.AuditChainVerification{Valid: v.Valid, Checked: v.Checked, HeadSeq: int(v.HeadSeq), HeadHash: v.HeadHash,
		PrunedSeq: int(v.PrunedSeq), PrunedHash: v.PrunedHash}
	if v.FirstBrokenSeq != nil {
		n := int(*v.FirstBrokenSeq)
		out.FirstBrokenSeq = &n
	}
	return out
}
