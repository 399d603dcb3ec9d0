package metering

import (
	"strings"

	"github.com/entitled/entitled/ent/thresholdevent"
	"github.com/entitled/entitled/ent/usagecounter"
	"github.com/entitled/entitled/ent/usageevent"
)

// Metering writes raw SQL (one upsert per counter, COPY for ledger rows).
// Its statements name tables and columns by ent's generated constants, so
// a rename in ent/schema breaks the build here instead of the queries at
// run time. In the statement texts, {uc}, {ue} and {te} stand for the
// counter, ledger and threshold tables and {uc.count} for a column.
var schemaNames = strings.NewReplacer(
	"{uc}", usagecounter.Table,
	"{uc.id}", usagecounter.FieldID,
	"{uc.organization_id}", usagecounter.FieldOrganizationID,
	"{uc.instance_id}", usagecounter.FieldInstanceID,
	"{uc.entitlement_id}", usagecounter.FieldEntitlementID,
	"{uc.period_start}", usagecounter.FieldPeriodStart,
	"{uc.count}", usagecounter.FieldCount,
	"{uc.sum}", usagecounter.FieldSum,
	"{uc.min}", usagecounter.FieldMin,
	"{uc.max}", usagecounter.FieldMax,
	"{uc.latest}", usagecounter.FieldLatest,
	"{uc.latest_at}", usagecounter.FieldLatestAt,
	"{uc.reset_at}", usagecounter.FieldResetAt,
	"{uc.updated_at}", usagecounter.FieldUpdatedAt,

	"{ue}", usageevent.Table,
	"{ue.id}", usageevent.FieldID,
	"{ue.organization_id}", usageevent.FieldOrganizationID,
	"{ue.instance_id}", usageevent.FieldInstanceID,
	"{ue.entitlement_id}", usageevent.FieldEntitlementID,
	"{ue.kind}", usageevent.FieldKind,
	"{ue.value}", usageevent.FieldValue,
	"{ue.timestamp}", usageevent.FieldTimestamp,
	"{ue.period_start}", usageevent.FieldPeriodStart,
	"{ue.recorded_at}", usageevent.FieldRecordedAt,
	"{ue.idempotency_key}", usageevent.FieldIdempotencyKey,
	"{ue.request_hash}", usageevent.FieldRequestHash,
	"{ue.aggregate}", usageevent.FieldAggregate,
	"{ue.result}", usageevent.FieldResult,

	"{te}", thresholdevent.Table,
	"{te.id}", thresholdevent.FieldID,
	"{te.organization_id}", thresholdevent.FieldOrganizationID,
	"{te.instance_id}", thresholdevent.FieldInstanceID,
	"{te.entitlement_id}", thresholdevent.FieldEntitlementID,
	"{te.kind}", thresholdevent.FieldKind,
	"{te.period_start}", thresholdevent.FieldPeriodStart,
	"{te.usage}", thresholdevent.FieldUsage,
	"{te.limit}", thresholdevent.FieldLimit,
	"{te.hard_cap}", thresholdevent.FieldHardCap,
	"{te.created_at}", thresholdevent.FieldCreatedAt,
)

// schemaSQL resolves the table and column names of a statement text.
func schemaSQL(text string) string { return schemaNames.Replace(text) }

// eventColumns are the ledger's columns in the order metering writes them.
var eventColumns = []string{
	usageevent.FieldID, usageevent.FieldOrganizationID, usageevent.FieldInstanceID, usageevent.FieldEntitlementID,
	usageevent.FieldKind, usageevent.FieldValue, usageevent.FieldTimestamp, usageevent.FieldPeriodStart,
	usageevent.FieldRecordedAt, usageevent.FieldIdempotencyKey, usageevent.FieldRequestHash,
	usageevent.FieldAggregate, usageevent.FieldResult,
}

// eventColumnList is eventColumns as SQL, each quoted ("timestamp" is a
// keyword).
var eventColumnList = `"` + strings.Join(eventColumns, `", "`) + `"`
