package web

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/delivery/format"
	"github.com/s3relay/s3relay/delivery/match"
	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

// TestSender writes one event through a mapping to its destination now and
// records it in the delivery history as a test. *delivery.Engine is one.
type TestSender interface {
	TestSend(ctx context.Context, dest *store.Destination, m *store.Mapping, event delivery.Sample) (*store.Delivery, error)
}

// Where preview events come from.
const (
	sampleRequest = "request"
	sampleRecent  = "recent"
	sampleBuiltin = "builtin"
)

const (
	// previewFileID names preview files, as the engine names them with a
	// delivery id.
	previewFileID = "preview"
	// maxSamples is how many of the latest received events a preview uses.
	maxSamples = 20
	// previewFiles and previewLines bound what the editor shows of a preview.
	previewFiles = 5
	previewLines = 11
	previewBytes = 8 << 10
)

//go:embed mapping_samples.json
var builtinSamplesJSON []byte

// builtinSamples returns one event of every Segment call type and one
// publish event, decoded on each call so that no two callers share maps.
func builtinSamples() []delivery.Sample {
	var raws []json.RawMessage
	if err := json.Unmarshal(builtinSamplesJSON, &raws); err != nil {
		panic(fmt.Sprintf("mapping_samples.json: %v", err))
	}
	out := make([]delivery.Sample, 0, len(raws))
	for _, raw := range raws {
		ev, err := delivery.DecodeSample(raw)
		if err != nil {
			panic(fmt.Sprintf("mapping_samples.json: %v", err))
		}
		out = append(out, ev)
	}
	return out
}

// sampleEvents returns the events previews and test sends use: the latest
// events of the destination's sources, oldest first, or the built-in
// samples when the sources have received none.
func (s *Server) sampleEvents(ctx context.Context, dest *store.Destination) ([]delivery.Sample, string, error) {
	var latest []*store.Event
	for _, id := range dest.SourceIDs {
		es, _, err := s.db.ListEvents(ctx, store.EventFilter{SourceID: id, Limit: maxSamples})
		if err != nil {
			return nil, "", err
		}
		latest = append(latest, es...)
	}
	if len(latest) == 0 {
		return builtinSamples(), sampleBuiltin, nil
	}
	sort.Slice(latest, func(i, j int) bool { return latest[i].Seq > latest[j].Seq })
	latest = latest[:min(len(latest), maxSamples)]
	slices.Reverse(latest)
	events := make([]delivery.Sample, 0, len(latest))
	for _, e := range latest {
		ev, err := delivery.StoredSample(e)
		if err != nil {
			return nil, "", fmt.Errorf("sample event %s: %w", e.ID, err)
		}
		events = append(events, ev)
	}
	return events, sampleRecent, nil
}

// sendTest writes event through the saved mapping m; a nil event means the
// first sample event the trigger accepts.
func (s *Server) sendTest(ctx context.Context, dest *store.Destination, m *store.Mapping, event delivery.Sample) (*store.Delivery, error) {
	if event.Msg == nil {
		c, err := compileMapping(m, dest)
		if err != nil {
			return nil, err
		}
		events, _, err := s.sampleEvents(ctx, dest)
		if err != nil {
			return nil, err
		}
		if i := slices.IndexFunc(events, func(e delivery.Sample) bool { return c.Trigger.Match(e.Msg) }); i >= 0 {
			event = events[i]
		}
		if event.Msg == nil {
			return nil, store.FieldErrorf("event", "None of the sample events matches the trigger: give an event to send.")
		}
	}
	d, err := s.testSender.TestSend(ctx, dest, m, event)
	return d, explain(err)
}

// newMapping returns a new mapping of the given format with Segment's
// defaults: for csv and txt, Segment's columns and extra column names.
func newMapping(f string) *store.Mapping {
	m := &store.Mapping{Enabled: true, Format: f, Trigger: store.DefaultTrigger, FileExtension: f}
	switch f {
	case store.FormatCSV, store.FormatTXT:
		m.Columns = defaultColumns()
		m.AudienceActionColumnName = format.DefaultAudienceActionColumn
		m.BatchSizeColumnName = format.DefaultBatchSizeColumn
	case store.FormatParquet:
		m.Columns = typedColumns(defaultColumns())
	}
	if f != store.FormatJSON {
		m.KeyPreset = keyPreset(m)
	}
	m.ApplyDefaults()
	return m
}

func defaultColumns() []store.Column {
	var cols []store.Column
	for _, c := range format.DefaultColumns() {
		cols = append(cols, store.Column{Name: c.Name, Value: c.Value, Normalize: c.Normalize, Hash: c.Hash})
	}
	return cols
}

// typedColumns gives columns without a type the parquet type of their name.
func typedColumns(cols []store.Column) []store.Column {
	out := make([]store.Column, len(cols))
	for i, c := range cols {
		if c.Type == "" {
			c.Type = format.DefaultColumnType(c.Name)
		}
		out[i] = c
	}
	return out
}

// compileMapping checks a mapping completely and compiles it, as the engine
// will. Errors are EINVALID with the field at fault.
func compileMapping(m *store.Mapping, dest *store.Destination) (*delivery.Compiled, error) {
	// The encoder ignores the key preset of json mappings, so it would not
	// catch a wrong one there.
	if m.KeyPreset != "" && !slices.Contains(format.KeyPresets(), m.KeyPreset) {
		return nil, store.FieldErrorf("key_preset", "Key preset must be one of %s.", strings.Join(format.KeyPresets(), ", "))
	}
	c, err := delivery.Compile(m, dest.Config)
	return c, explain(err)
}

var columnField = regexp.MustCompile(`^columns\[(\d+)\]\.(name|value|transform|normalize|hash|type)$`)

// fieldLabel names an API field the way the editor labels it.
func fieldLabel(field string) string {
	if m := columnField.FindStringSubmatch(field); m != nil {
		n, _ := strconv.Atoi(m[1])
		return fmt.Sprintf("Column %d %s", n+1, m[2])
	}
	labels := map[string]string{
		"name": "Name", "trigger": "Trigger", "format": "Format", "columns": "Columns", "delimiter": "Delimiter",
		"file_extension": "File extension", "compression": "Compression", "key_preset": "Key layout", "folder": "Folder",
		"filename_prefix": "Filename prefix", "key_template": "Key template", "batch_size": "Batch size",
		"batch_max_bytes": "Batch max bytes", "batch_max_age_seconds": "Batch max age",
		"partition_time": "Partition by", "partition_window_hours": "Partition window",
		"batch_size_column_name": "Batch size column name", "audience_action_column_name": "Audience action column name",
		"config.path_prefix": "The destination's path prefix", "event": "Event", "events": "Events",
	}
	if l, ok := labels[field]; ok {
		return l
	}
	return field
}

// explain turns the encoder's terse field messages ("must be one of ...")
// into sentences that name the field; other errors pass unchanged.
func explain(err error) error {
	var se *store.Error
	if !errors.As(err, &se) || se.Field == "" || se.Message == "" {
		return err
	}
	msg := se.Message
	if first := msg[0]; first >= 'a' && first <= 'z' {
		msg = fieldLabel(se.Field) + " " + msg
	}
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return &store.Error{Code: se.Code, Field: se.Field, Message: msg}
}

// destinationMapping loads the destination and mapping a route names.
func (s *Server) destinationMapping(c echo.Context) (*store.Destination, *store.Mapping, error) {
	ctx := c.Request().Context()
	dest, err := s.db.DestinationByID(ctx, c.Param("id"))
	if err != nil {
		return nil, nil, err
	}
	m, err := s.db.MappingByID(ctx, dest.ID, c.Param("mid"))
	if err != nil {
		return nil, nil, err
	}
	return dest, m, nil
}

// destinationMappings loads the destination a route names and its mappings.
func (s *Server) destinationMappings(c echo.Context) (*store.Destination, []*store.Mapping, error) {
	ctx := c.Request().Context()
	dest, err := s.db.DestinationByID(ctx, c.Param("id"))
	if err != nil {
		return nil, nil, err
	}
	ms, err := s.db.ListMappings(ctx, dest.ID)
	return dest, ms, err
}

func mappingsURL(destID string) string {
	return "/destinations/" + url.PathEscape(destID) + "/mappings"
}

func mappingURL(destID, id string) string { return mappingsURL(destID) + "/" + url.PathEscape(id) }

// editorOptions are the editor's choices, from the packages that define them.
func editorOptions() views.MappingOptions {
	o := views.MappingOptions{
		Formats: []views.Option{
			{Value: store.FormatCSV, Label: "CSV (Segment S3 Actions)"},
			{Value: store.FormatTXT, Label: "TXT (delimited text)"},
			{Value: store.FormatJSONL, Label: "JSONL, one event per line (Segment classic, Astronomer)"},
			{Value: store.FormatJSON, Label: "JSON, one object per event (Outpost)"},
			{Value: store.FormatParquet, Label: "Parquet, typed columns (Athena, Glue, Spark, DuckDB)"},
		},
		Compressions: []views.Option{{Value: store.CompressionNone, Label: "None"}, {Value: store.CompressionGzip, Label: "gzip"},
			{Value: store.CompressionSnappy, Label: "Snappy (parquet only, its default)"}, {Value: store.CompressionZstd, Label: "zstd (parquet only)"}},
		KeyPresets: []views.Option{
			{Value: format.PresetSegmentActions, Label: "Segment Actions: <folder>/<prefix>_<time>.<ext>"},
			{Value: format.PresetSegmentClassic, Label: "Segment Classic: segment-logs/<source>/<day>/… (gzip)"},
			{Value: format.PresetHive, Label: "Hive: <folder>/dt=YYYY-MM-DD/hour=HH/…"},
			{Value: format.PresetCustom, Label: "Custom key template"},
		},
		Normalizations: []views.Option{
			{Value: format.NormalizeNone, Label: "none"},
			{Value: format.NormalizeLowercase, Label: "lowercase"},
			{Value: format.NormalizeTrim, Label: "trim"},
			{Value: format.NormalizeLowercaseTrim, Label: "lowercase and trim"},
		},
		Hashes: []views.Option{{Value: format.HashNone, Label: "none"}, {Value: format.HashSHA256, Label: "SHA-256"}},
		PartitionTimes: []views.Option{
			{Value: store.PartitionTimeReceived, Label: "Time received (files' seal time, as Segment classic and Firehose)"},
			{Value: store.PartitionTimeEvent, Label: "Event time (each event's own UTC hour)"},
		},
		Fields: match.Fields(),
	}
	for _, t := range format.ColumnTypes() {
		o.ColumnTypes = append(o.ColumnTypes, views.Option{Value: t, Label: t})
	}
	names := map[string]string{",": "comma", "|": "pipe", ";": "semicolon", ":": "colon"}
	for _, d := range format.Delimiters() {
		label := d
		if n, ok := names[d]; ok {
			label = d + " (" + n + ")"
		}
		o.Delimiters = append(o.Delimiters, views.Option{Value: d, Label: label})
	}
	for _, op := range match.Operators() {
		o.Operators = append(o.Operators, views.Option{Value: op, Label: op})
	}
	for _, t := range format.KeyTokens() {
		o.KeyTokens = append(o.KeyTokens, views.KeyTokenHelp{Token: t.Token, Description: t.Description})
	}
	return o
}

// mappingForm is a stored mapping as the editor shows it.
func mappingForm(m *store.Mapping) views.MappingForm {
	f := views.MappingForm{
		Name: m.Name, Enabled: m.Enabled, Trigger: m.Trigger, Format: m.Format, Delimiter: m.Delimiter,
		FileExtension: m.FileExtension, Compression: m.Compression, KeyPreset: keyPreset(m), Folder: m.Folder,
		FilenamePrefix: m.FilenamePrefix, KeyTemplate: m.KeyTemplate, BatchSize: strconv.Itoa(m.BatchSize),
		BatchMaxBytes: strconv.FormatInt(m.BatchMaxBytes, 10), BatchMaxAgeSeconds: strconv.Itoa(m.BatchMaxAgeSeconds),
		BatchSizeColumnName: m.BatchSizeColumnName, AudienceActionColumnName: m.AudienceActionColumnName,
		PartitionTime: m.PartitionTime, PartitionWindowHours: strconv.Itoa(m.PartitionWindowHours),
	}
	// The format's own extension shows as blank, so that choosing another
	// format brings its extension along.
	if f.FileExtension == m.Format {
		f.FileExtension = ""
	}
	f.Columns = columnRows(m.Columns)
	return f
}

func columnRows(cols []store.Column) []views.ColumnRow {
	rows := make([]views.ColumnRow, 0, len(cols))
	for _, c := range cols {
		n, h := c.Normalize, c.Hash
		if c.Transform != "" {
			n, h = splitTransform(c.Transform)
		}
		typ := c.Type
		if typ == "" {
			typ = format.DefaultColumnType(c.Name)
		}
		rows = append(rows, views.ColumnRow{Name: c.Name, Value: c.Value, Normalize: orNone(n), Hash: orNone(h), Type: typ})
	}
	return rows
}

// triggerWarnings lists what a trigger that parses compares differently
// since triggers compare by type (see match.Trigger.Quoted); nothing for a
// trigger that does not parse, whose error is shown instead.
func triggerWarnings(trigger string) []string {
	t, err := match.Parse(trigger)
	if err != nil {
		return nil
	}
	var out []string
	for _, q := range t.Quoted() {
		out = append(out, q.Message())
	}
	return out
}

// splitTransform gives the normalize and hash an older transform name
// stands for, so the editor shows and saves a stored one in the new form.
func splitTransform(t string) (normalize, hash string) {
	switch t {
	case format.TransformSHA256:
		return format.NormalizeNone, format.HashSHA256
	case format.TransformNormalize:
		return format.NormalizeLowercaseTrim, format.HashNone
	}
	return "", ""
}

// orNone shows an unset normalize or hash as "none" (format.NormalizeNone
// and format.HashNone are both "none").
func orNone(s string) string {
	if s == "" {
		return format.NormalizeNone
	}
	return s
}

// columnTransform is what a column row stores: "none" is left out, as the
// API leaves it out.
func columnTransform(s string) string {
	if s == format.NormalizeNone {
		return ""
	}
	return s
}

// builderFor offers a trigger's text as builder rows when it is a flat list
// of conditions. It returns the syntax error of a trigger that does not parse.
func builderFor(trigger string) (views.TriggerBuilder, string) {
	if strings.TrimSpace(trigger) == "" {
		return views.TriggerBuilder{Available: true, Joiner: "and"}, ""
	}
	t, err := match.Parse(trigger)
	if err != nil {
		return views.TriggerBuilder{Note: "Fix the trigger to use the condition builder."}, "Trigger " + err.Error() + "."
	}
	conds, joiner, ok := t.Conditions()
	if !ok {
		return views.TriggerBuilder{Note: "This trigger mixes and, or or parentheses, so it is edited as text."}, ""
	}
	b := views.TriggerBuilder{Available: true, Joiner: joiner}
	for _, c := range conds {
		b.Rows = append(b.Rows, views.ConditionRow{Field: c.Field, Op: c.Op, Value: c.Value})
	}
	// Build gives back an equivalent trigger; its text marks the rows as
	// unedited until they build to something else.
	b.Origin, _ = match.Build(conds, joiner)
	return b, ""
}

// Sides of the trigger editor: which one the trigger came from.
const (
	sideRaw     = "raw"
	sideBuilder = "builder"
)

// editor is the mapping editor's state, read from a posted form.
type editor struct {
	form    views.MappingForm
	builder views.TriggerBuilder
	mapping *store.Mapping
	// op is a structural edit the form asked for (add, move or remove a
	// column or condition); such a post saves nothing.
	op   string
	side string
	// errs are the values that could not be read (numbers, builder rows),
	// keyed by input id; triggerErr is the message shown under the trigger.
	errs       views.FormErrors
	triggerErr string
}

// readEditor reads the editor form: applies a structural op, works out which
// side of the trigger editor was edited, and builds the mapping.
func readEditor(c echo.Context) (*editor, error) {
	form, err := c.FormParams()
	if err != nil {
		return nil, store.Errorf(store.EINVALID, "The form could not be read.")
	}
	ed := &editor{op: form.Get("op"), errs: views.FormErrors{}}
	f := &ed.form
	f.Name, f.Enabled, f.Trigger, f.Format = form.Get("name"), form.Get("enabled") != "", form.Get("trigger"), form.Get("format")
	f.Delimiter, f.FileExtension, f.Compression = form.Get("delimiter"), form.Get("file_extension"), form.Get("compression")
	f.KeyPreset, f.Folder, f.FilenamePrefix, f.KeyTemplate = form.Get("key_preset"), form.Get("folder"), form.Get("filename_prefix"), form.Get("key_template")
	f.BatchSize, f.BatchMaxBytes, f.BatchMaxAgeSeconds = form.Get("batch_size"), form.Get("batch_max_bytes"), form.Get("batch_max_age_seconds")
	f.BatchSizeColumnName, f.AudienceActionColumnName = form.Get("batch_size_column_name"), form.Get("audience_action_column_name")
	f.PartitionTime, f.PartitionWindowHours = form.Get("partition_time"), form.Get("partition_window_hours")
	f.TestEvent = form.Get("test_event")
	// Segment's classic layout holds gzip files only: choosing it chooses
	// gzip, rather than failing on compression.
	if f.KeyPreset == format.PresetSegmentClassic && f.Format != store.FormatParquet {
		f.Compression = store.CompressionGzip
	}
	names, values, normalizes, hashes, types := form["col_name"], form["col_value"], form["col_normalize"], form["col_hash"], form["col_type"]
	// col_transform is the older form's single select; a script that still
	// posts it gets the same column.
	transforms := form["col_transform"]
	for i := range max(len(names), len(values), len(normalizes), len(hashes), len(transforms)) {
		row := views.ColumnRow{Name: at(names, i), Value: at(values, i), Normalize: at(normalizes, i), Hash: at(hashes, i), Type: at(types, i)}
		if t := at(transforms, i); t != "" && row.Normalize == "" && row.Hash == "" {
			row.Normalize, row.Hash = splitTransform(t)
			if row.Normalize == "" {
				// An unknown name is kept, so the save names it in its error.
				row.Normalize = t
			}
		}
		f.Columns = append(f.Columns, row)
	}
	fields, ops, vals := form["cond_field"], form["cond_op"], form["cond_value"]
	var rows []views.ConditionRow
	for i := range max(len(fields), len(ops), len(vals)) {
		rows = append(rows, views.ConditionRow{Field: at(fields, i), Op: at(ops, i), Value: at(vals, i)})
	}
	kind, index := parseOp(ed.op)
	switch kind {
	case "col-add":
		f.Columns = append(f.Columns, views.ColumnRow{})
	case "col-defaults":
		f.Columns = columnRows(defaultColumns())
	case "col-up", "col-down", "col-remove":
		f.Columns = edit(f.Columns, kind[len("col-"):], index)
	case "cond-add":
		rows = append(rows, views.ConditionRow{Op: "="})
	case "cond-remove":
		rows = edit(rows, "remove", index)
	}
	ed.resolveTrigger(rows, form.Get("cond_joiner"), form.Get("trigger_origin"), form.Get("builder") != "", strings.HasPrefix(kind, "cond-"))
	ed.mapping = ed.toMapping()
	return ed, nil
}

// resolveTrigger decides where the trigger comes from. Builder rows that
// build to another text than the one they were rendered from were edited, so
// they win; otherwise the raw text is the trigger and the builder follows it.
func (ed *editor) resolveTrigger(rows []views.ConditionRow, joiner, origin string, builderShown, builderOp bool) {
	if builderShown && (len(rows) > 0 || builderOp) {
		conds := make([]match.Condition, len(rows))
		for i, r := range rows {
			conds[i] = match.Condition{Field: r.Field, Op: r.Op, Value: r.Value}
		}
		built, err := match.Build(conds, joiner)
		if err != nil || built != origin || builderOp {
			ed.side = sideBuilder
			ed.builder = views.TriggerBuilder{Available: true, Origin: origin, Joiner: joiner, Rows: rows}
			if err != nil {
				ed.triggerErr = builderError(err)
				ed.errs["trigger"] = ed.triggerErr
				return
			}
			ed.form.Trigger, ed.builder.Origin = built, built
			return
		}
	}
	ed.side = sideRaw
	ed.builder, ed.triggerErr = builderFor(ed.form.Trigger)
	if strings.TrimSpace(ed.form.Trigger) == "" {
		// Saving would otherwise store the default trigger silently.
		ed.triggerErr = emptyTrigger
		ed.errs["trigger"] = emptyTrigger
	}
}

// emptyTrigger is the message for a trigger left empty.
const emptyTrigger = "Trigger is required; write a condition such as " + store.DefaultTrigger + ", or build one below."

// builderError phrases a builder error for the user.
func builderError(err error) string {
	var ce *match.ConditionError
	if errors.As(err, &ce) {
		part := ce.Part
		if part == "op" {
			part = "operator"
		}
		return fmt.Sprintf("Condition %d, %s: %s.", ce.Index+1, part, ce.Msg)
	}
	msg := err.Error()
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

// toMapping builds the mapping the form describes. Numbers that do not
// parse are reported in ed.errs and left at their defaults.
func (ed *editor) toMapping() *store.Mapping {
	f := ed.form
	m := &store.Mapping{
		Name: f.Name, Enabled: f.Enabled, Trigger: f.Trigger, Format: f.Format, Delimiter: f.Delimiter,
		FileExtension: f.FileExtension, Compression: f.Compression, KeyPreset: f.KeyPreset, Folder: f.Folder,
		FilenamePrefix: f.FilenamePrefix, KeyTemplate: f.KeyTemplate,
		BatchSizeColumnName: f.BatchSizeColumnName, AudienceActionColumnName: f.AudienceActionColumnName,
		PartitionTime: f.PartitionTime,
	}
	if m.Format == store.FormatJSON {
		m.KeyPreset = ""
	}
	if strings.TrimSpace(m.FileExtension) == "" {
		m.FileExtension = m.Format
	}
	for _, c := range f.Columns {
		col := store.Column{Name: c.Name, Value: c.Value, Normalize: columnTransform(c.Normalize), Hash: columnTransform(c.Hash)}
		if m.Format == store.FormatParquet {
			col.Type = c.Type
		}
		m.Columns = append(m.Columns, col)
	}
	number := func(id, label, text string) int64 {
		text = strings.TrimSpace(text)
		if text == "" {
			return 0
		}
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			ed.errs[id] = label + " must be a whole number."
		}
		return n
	}
	m.BatchSize = int(number("batch_size", "Batch size", f.BatchSize))
	m.BatchMaxBytes = number("batch_max_bytes", "Batch max bytes", f.BatchMaxBytes)
	m.BatchMaxAgeSeconds = int(number("batch_max_age_seconds", "Batch max age", f.BatchMaxAgeSeconds))
	m.PartitionWindowHours = int(number("partition_window_hours", "Partition window", f.PartitionWindowHours))
	return m
}

func at(list []string, i int) string {
	if i < len(list) {
		return list[i]
	}
	return ""
}

// parseOp splits an op such as "col-up:3" into its kind and index.
func parseOp(op string) (string, int) {
	kind, n, _ := strings.Cut(op, ":")
	i, err := strconv.Atoi(n)
	if err != nil {
		i = -1
	}
	return kind, i
}

// edit moves row i up or down, or removes it; an index out of range (a
// stale page) changes nothing.
func edit[T any](rows []T, what string, i int) []T {
	if i < 0 || i >= len(rows) {
		return rows
	}
	switch what {
	case "up":
		if i > 0 {
			rows[i-1], rows[i] = rows[i], rows[i-1]
		}
	case "down":
		if i < len(rows)-1 {
			rows[i], rows[i+1] = rows[i+1], rows[i]
		}
	case "remove":
		rows = slices.Delete(rows, i, i+1)
	}
	return rows
}

// inputID names the editor input an API field is about.
func inputID(field string) string {
	if m := columnField.FindStringSubmatch(field); m != nil {
		return "col-" + m[2] + "-" + m[1]
	}
	switch field {
	case "config.path_prefix", "event", "events":
		return ""
	}
	return field
}

// preview renders the editor's mapping over the sample events.
func (s *Server) preview(ctx context.Context, dest *store.Destination, ed *editor) (views.MappingPreview, error) {
	events, source, err := s.sampleEvents(ctx, dest)
	if err != nil {
		return views.MappingPreview{}, err
	}
	p := views.MappingPreview{Builtin: source == sampleBuiltin, Samples: len(events)}
	// Invalid input is shown in the preview, naming the field to fix.
	invalid := func(err error) (views.MappingPreview, error) {
		if store.ErrorCode(err) != store.EINVALID {
			return p, err
		}
		field := store.ErrorField(err)
		p.Error, p.ErrorField, p.ErrorLabel = store.ErrorMessage(explain(err)), inputID(field), fieldLabel(field)
		return p, nil
	}
	for _, id := range []string{"batch_size", "batch_max_bytes", "batch_max_age_seconds", "partition_window_hours"} {
		if msg, ok := ed.errs[id]; ok {
			return invalid(store.FieldErrorf(id, "%s", msg))
		}
	}
	m := *ed.mapping
	if m.Name == "" {
		m.Name = "preview" // an unnamed draft previews all the same
	}
	c, err := compileMapping(&m, dest)
	if err != nil {
		return invalid(err)
	}
	objs, err := delivery.Render(c, delivery.FromDestination(events, dest), s.db.Now(), previewFileID)
	if err != nil {
		return invalid(err)
	}
	for i, o := range objs {
		p.Matched += o.Events
		if i >= previewFiles {
			p.More++
			continue
		}
		po := views.PreviewObject{Key: o.Key, Warnings: o.Warnings, ContentType: o.ContentType,
			ContentEncoding: o.ContentEncoding, Events: o.Events}
		if o.Table != nil {
			po.Table = parquetTable(o.Table, o.Nulls)
		} else {
			po.Body, po.Truncated = previewBody(o)
		}
		p.Objects = append(p.Objects, po)
	}
	return p, nil
}

// previewBody is the start of an object as text: its first lines,
// decompressed when gzip.
func previewBody(o delivery.Object) (string, bool) {
	body := o.Body
	if o.ContentEncoding == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return "(the gzip stream could not be read: " + err.Error() + ")", false
		}
		body, err = io.ReadAll(io.LimitReader(zr, previewBytes+1))
		if err != nil {
			return "(the gzip stream could not be read: " + err.Error() + ")", false
		}
	}
	truncated := len(body) > previewBytes
	body = body[:min(len(body), previewBytes)]
	lines := bytes.SplitAfter(body, []byte("\n"))
	if len(lines) > previewLines {
		lines, truncated = lines[:previewLines], true
	}
	return strings.ToValidUTF8(string(bytes.Join(lines, nil)), "\uFFFD"), truncated
}

// editorView is the editor page for a destination's mapping (id "" for a new one).
func (s *Server) editorView(c echo.Context, dest *store.Destination, id string, ed *editor, errs views.FormErrors) (views.MappingEditorView, error) {
	title, action, testURL := "New mapping", mappingsURL(dest.ID), ""
	if id != "" {
		title, action = "Edit mapping", mappingURL(dest.ID, id)
		testURL = action + "/test-send"
	}
	if errs == nil {
		errs = views.FormErrors{}
	}
	for k, v := range ed.errs {
		if _, ok := errs[k]; !ok {
			errs[k] = v
		}
	}
	if _, ok := errs["trigger"]; !ok && ed.triggerErr != "" {
		errs["trigger"] = ed.triggerErr
	}
	p, err := s.preview(c.Request().Context(), dest, ed)
	if err != nil {
		return views.MappingEditorView{}, err
	}
	return views.MappingEditorView{
		Page: s.page(c, dest.Name, "destinations"), Heading: title, Steps: stepNav(dest, stepIndex("mappings")),
		Action: action, LiveURL: mappingsURL(dest.ID) + "/live", TestSendURL: testURL, BackURL: mappingsURL(dest.ID),
		Form: ed.form, Errors: errs, Builder: ed.builder, TriggerWarnings: triggerWarnings(ed.form.Trigger),
		Preview: p, Options: editorOptions(),
	}, nil
}

// storedEditor is the editor state of a stored (or new) mapping.
func storedEditor(m *store.Mapping) *editor {
	ed := &editor{form: mappingForm(m), mapping: m, side: sideRaw, errs: views.FormErrors{}}
	ed.builder, ed.triggerErr = builderFor(m.Trigger)
	return ed
}

// handleMappingList shows a destination's mappings: its wizard's mappings
// step, whether it is still being set up or edited later.
func (s *Server) handleMappingList(c echo.Context) error {
	dest, err := s.db.DestinationByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.noteSetupProgress(c.Request().Context(), dest, stepIndex("mappings")); err != nil {
		return err
	}
	return s.renderWizard(c, http.StatusOK, wizard{step: stepIndex("mappings"), d: dest, stored: dest})
}

// mappingList is the mappings step's list of a destination's mappings ms.
func (s *Server) mappingList(dest *store.Destination, ms []*store.Mapping) views.MappingList {
	l := views.MappingList{NewURL: mappingsURL(dest.ID) + "/new", DefaultURL: mappingsURL(dest.ID) + "/default", Max: store.MaxMappings}
	for _, m := range ms {
		l.Rows = append(l.Rows, views.MappingRow{
			ID: m.ID, Name: m.Name, Trigger: m.Trigger, Format: m.Format, Enabled: m.Enabled,
			KeyExample: s.keyExample(m, dest), EditURL: mappingURL(dest.ID, m.ID), DeleteURL: mappingURL(dest.ID, m.ID) + "/delete",
		})
	}
	return l
}

// enabledCount counts the mappings that are turned on: the only ones events
// are delivered through.
func enabledCount(ms []*store.Mapping) int {
	n := 0
	for _, m := range ms {
		if m.Enabled {
			n++
		}
	}
	return n
}

// defaultMappingName names the mapping handleMappingAddDefault adds.
const defaultMappingName = "Tracks and identifies"

// handleMappingAddDefault adds Segment's default mapping in one click: tracks
// and identifies as csv files with Segment's columns. A new destination has
// no mapping, and without one nothing is delivered.
func (s *Server) handleMappingAddDefault(c echo.Context) error {
	ctx := c.Request().Context()
	dest, err := s.db.DestinationByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	m := newMapping(store.FormatCSV)
	m.Name, m.DestinationID = defaultMappingName, dest.ID
	_, err = compileMapping(m, dest)
	if err == nil {
		err = s.db.CreateMapping(ctx, m)
	}
	switch store.ErrorCode(err) {
	case "":
		return s.redirectWithFlash(c, mappingsURL(dest.ID),
			"Mapping “"+m.Name+"” added: tracks and identifies are written as csv files with Segment's columns.")
	case store.EINVALID, store.ELIMIT:
		// The destination's own settings (its path prefix) or the limit
		// refuse it: say so on the step.
		return s.renderWizard(c, http.StatusUnprocessableEntity, wizard{step: stepIndex("mappings"), d: dest, stored: dest,
			errs: views.FormErrors{"": store.ErrorMessage(explain(err))}})
	}
	return err
}

// keyExample is the key a mapping would give a file of a track event now.
func (s *Server) keyExample(m *store.Mapping, dest *store.Destination) string {
	cm := *m
	c, err := compileMapping(&cm, dest)
	if err != nil {
		return "(invalid: " + store.ErrorMessage(err) + ")"
	}
	now := s.db.Now()
	var key string
	if m.Format == store.FormatJSON {
		samples := builtinSamples()
		var obj format.Object
		if obj, err = c.Format.Object(samples[len(samples)-1].Msg, now); err == nil {
			key = obj.Key
		}
	} else {
		src := "source"
		if len(dest.SourceIDs) > 0 {
			src = dest.SourceIDs[0]
		}
		key, err = c.Format.Key(format.KeyInput{Time: now, FileID: "example", SourceID: src, Type: "track", Event: "Order Completed"})
	}
	if err != nil {
		return "(no key: " + err.Error() + ")"
	}
	return key
}

func (s *Server) handleMappingNew(c echo.Context) error {
	dest, err := s.db.DestinationByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	// ?format=parquet (or another format) starts from that format's
	// defaults: for parquet snappy, hive keys and typed columns.
	start := store.FormatCSV
	if f := c.QueryParam("format"); slices.Contains([]string{store.FormatTXT, store.FormatJSONL, store.FormatJSON, store.FormatParquet}, f) {
		start = f
	}
	v, err := s.editorView(c, dest, "", storedEditor(newMapping(start)), nil)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.MappingEditor(v))
}

func (s *Server) handleMappingEdit(c echo.Context) error {
	dest, m, err := s.destinationMapping(c)
	if err != nil {
		return err
	}
	v, err := s.editorView(c, dest, m.ID, storedEditor(m), nil)
	if err != nil {
		return err
	}
	v.QueryIt = queryIt(m, dest)
	return s.render(c, http.StatusOK, views.MappingEditor(v))
}

// handleMappingSave creates (no :mid) or updates a mapping from the editor.
// A structural op (add a column, ...) only re-renders the form, for browsers
// without JavaScript.
func (s *Server) handleMappingSave(c echo.Context) error {
	ctx := c.Request().Context()
	dest, err := s.db.DestinationByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	var stored *store.Mapping
	if mid := c.Param("mid"); mid != "" {
		if stored, err = s.db.MappingByID(ctx, dest.ID, mid); err != nil {
			return err
		}
	}
	ed, err := readEditor(c)
	if err != nil {
		return err
	}
	id := ""
	if stored != nil {
		id = stored.ID
	}
	rerender := func(status int, errs views.FormErrors) error {
		v, err := s.editorView(c, dest, id, ed, errs)
		if err != nil {
			return err
		}
		return s.render(c, status, views.MappingEditor(v))
	}
	if ed.op != "" {
		return rerender(http.StatusOK, nil)
	}
	if len(ed.errs) > 0 {
		return rerender(http.StatusUnprocessableEntity, nil)
	}
	m := ed.mapping
	m.DestinationID = dest.ID
	_, err = compileMapping(m, dest)
	if err == nil && stored != nil {
		m.ID = stored.ID
		err = s.db.UpdateMapping(ctx, m)
	} else if err == nil {
		err = s.db.CreateMapping(ctx, m)
	}
	switch store.ErrorCode(err) {
	case "":
		return s.redirectWithFlash(c, mappingsURL(dest.ID), "Mapping “"+m.Name+"” saved.")
	case store.EINVALID:
		field := inputID(store.ErrorField(err))
		msg := store.ErrorMessage(err)
		if field == "" {
			msg = fieldLabel(store.ErrorField(err)) + ": " + msg
		}
		return rerender(http.StatusUnprocessableEntity, views.FormErrors{field: msg})
	case store.ELIMIT:
		return rerender(http.StatusUnprocessableEntity, views.FormErrors{"": store.ErrorMessage(err)})
	}
	return err
}

func (s *Server) handleMappingDelete(c echo.Context) error {
	dest, m, err := s.destinationMapping(c)
	if err != nil {
		return err
	}
	if err := s.db.DeleteMapping(c.Request().Context(), dest.ID, m.ID); err != nil {
		return err
	}
	return s.redirectWithFlash(c, mappingsURL(dest.ID), "Mapping “"+m.Name+"” deleted.")
}

// handleMappingLive answers the editor as the user types: the preview of the
// unsaved form, and the parts of the form the server changed. It writes
// nothing.
func (s *Server) handleMappingLive(c echo.Context) error {
	dest, err := s.db.DestinationByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	ed, err := readEditor(c)
	if err != nil {
		return err
	}
	p, err := s.preview(c.Request().Context(), dest, ed)
	if err != nil {
		return err
	}
	v := views.MappingLiveView{LiveURL: mappingsURL(dest.ID) + "/live", Preview: p, Origin: ed.builder.Origin,
		TriggerError: ed.triggerErr, TriggerWarnings: triggerWarnings(ed.form.Trigger), Options: editorOptions()}
	kind, _ := parseOp(ed.op)
	// The side being typed in is never replaced, so no keystroke typed
	// while the request was under way is lost.
	if ed.side == sideRaw || strings.HasPrefix(kind, "cond-") {
		v.Builder = &ed.builder
	}
	if ed.side == sideBuilder && ed.triggerErr == "" {
		v.Trigger = &ed.form.Trigger
	}
	if strings.HasPrefix(kind, "col-") {
		v.Columns, v.SwapColumns = ed.form.Columns, true
	}
	return s.render(c, http.StatusOK, views.MappingLive(v))
}

// handleMappingTestSend sends a test event through the saved mapping. htmx
// gets the result in place; a plain form post gets the editor back with it.
func (s *Server) handleMappingTestSend(c echo.Context) error {
	ctx := c.Request().Context()
	dest, m, err := s.destinationMapping(c)
	if err != nil {
		return err
	}
	ed, err := readEditor(c)
	if err != nil {
		return err
	}
	var event delivery.Sample
	if strings.TrimSpace(ed.form.TestEvent) != "" {
		event, err = delivery.DecodeSample(json.RawMessage(ed.form.TestEvent))
		if err != nil {
			err = store.FieldErrorf("event", "The test event must be a JSON object.")
		}
	}
	res := &views.TestSendResult{}
	if err == nil {
		var d *store.Delivery
		if d, err = s.sendTest(ctx, dest, m, event); err == nil {
			res = &views.TestSendResult{DeliveryID: d.ID, Key: d.Key, Status: d.Status, Bytes: d.Bytes, Error: d.LastError}
		}
	}
	if store.ErrorCode(err) == store.EINVALID {
		res.Error = store.ErrorMessage(err)
	} else if err != nil {
		return err
	}
	if c.Request().Header.Get("HX-Request") == "true" {
		return s.render(c, http.StatusOK, views.MappingTestResult(res))
	}
	v, err := s.editorView(c, dest, m.ID, ed, nil)
	if err != nil {
		return err
	}
	v.TestResult = res
	return s.render(c, http.StatusOK, views.MappingEditor(v))
}
