package web

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/delivery/format"
	"github.com/s3relay/s3relay/store"
)

// apiMapping is a mapping in the management API: CONTRACT §4 plus
// key_preset.
type apiMapping struct {
	ID                       string         `json:"id"`
	Name                     string         `json:"name"`
	Enabled                  bool           `json:"enabled"`
	Trigger                  string         `json:"trigger"`
	Format                   string         `json:"format"`
	Columns                  []store.Column `json:"columns"`
	Delimiter                string         `json:"delimiter"`
	FileExtension            string         `json:"file_extension"`
	Compression              string         `json:"compression"`
	KeyPreset                string         `json:"key_preset"`
	Folder                   string         `json:"folder"`
	FilenamePrefix           string         `json:"filename_prefix"`
	KeyTemplate              string         `json:"key_template"`
	BatchSize                int            `json:"batch_size"`
	BatchMaxBytes            int64          `json:"batch_max_bytes"`
	BatchMaxAgeSeconds       int            `json:"batch_max_age_seconds"`
	BatchSizeColumnName      string         `json:"batch_size_column_name"`
	AudienceActionColumnName string         `json:"audience_action_column_name"`
	PartitionTime            string         `json:"partition_time"`
	PartitionWindowHours     int            `json:"partition_window_hours"`
	// Warnings are about a stored mapping that works but may not do what
	// was meant; present only when there are any.
	Warnings []apiWarning `json:"warnings,omitempty"`
}

// apiWarning is one warning about a mapping: the field it is about and what
// to look at.
type apiWarning struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func toAPIMapping(m *store.Mapping) apiMapping {
	cols := m.Columns
	if cols == nil {
		cols = []store.Column{}
	}
	return apiMapping{
		ID: m.ID, Name: m.Name, Enabled: m.Enabled, Trigger: m.Trigger, Format: m.Format, Columns: cols,
		Delimiter: m.Delimiter, FileExtension: m.FileExtension, Compression: m.Compression, KeyPreset: keyPreset(m),
		Folder: m.Folder, FilenamePrefix: m.FilenamePrefix, KeyTemplate: m.KeyTemplate,
		BatchSize: m.BatchSize, BatchMaxBytes: m.BatchMaxBytes, BatchMaxAgeSeconds: m.BatchMaxAgeSeconds,
		BatchSizeColumnName: m.BatchSizeColumnName, AudienceActionColumnName: m.AudienceActionColumnName,
		PartitionTime: m.PartitionTime, PartitionWindowHours: m.PartitionWindowHours,
		Warnings: apiWarnings(m),
	}
}

func apiWarnings(m *store.Mapping) []apiWarning {
	var out []apiWarning
	for _, msg := range triggerWarnings(m.Trigger) {
		out = append(out, apiWarning{Field: "trigger", Message: msg})
	}
	return out
}

// requireTrigger refuses an empty trigger: a mapping must say which events
// it takes, and the default trigger is only for a POST that leaves the
// field out.
func (in *apiMappingInput) requireTrigger() error {
	if in.Trigger != nil && strings.TrimSpace(*in.Trigger) == "" {
		return store.FieldErrorf("trigger", "Trigger is required; write a condition such as %s.", store.DefaultTrigger)
	}
	return nil
}

// keyPreset is the preset a mapping's keys follow: the encoder's default
// when none is stored; none for the json format, whose keys come from its
// key template.
func keyPreset(m *store.Mapping) string {
	if m.KeyPreset == "" && m.Format == store.FormatParquet {
		return format.PresetHive
	}
	if m.KeyPreset == "" && m.Format != store.FormatJSON {
		return format.PresetSegmentActions
	}
	return m.KeyPreset
}

// apiMappingInput is the body of POST and PATCH: fields left out keep their
// current value (PATCH) or their default (POST).
type apiMappingInput struct {
	ID                       *string         `json:"id"`
	Name                     *string         `json:"name"`
	Enabled                  *bool           `json:"enabled"`
	Trigger                  *string         `json:"trigger"`
	Format                   *string         `json:"format"`
	Columns                  *[]store.Column `json:"columns"`
	Delimiter                *string         `json:"delimiter"`
	FileExtension            *string         `json:"file_extension"`
	Compression              *string         `json:"compression"`
	KeyPreset                *string         `json:"key_preset"`
	Folder                   *string         `json:"folder"`
	FilenamePrefix           *string         `json:"filename_prefix"`
	KeyTemplate              *string         `json:"key_template"`
	BatchSize                *int            `json:"batch_size"`
	BatchMaxBytes            *int64          `json:"batch_max_bytes"`
	BatchMaxAgeSeconds       *int            `json:"batch_max_age_seconds"`
	BatchSizeColumnName      *string         `json:"batch_size_column_name"`
	AudienceActionColumnName *string         `json:"audience_action_column_name"`
	PartitionTime            *string         `json:"partition_time"`
	PartitionWindowHours     *int            `json:"partition_window_hours"`
}

// applyTo copies the fields the input sets onto m. A new format without a
// file extension gets its own, as the old one rarely fits it; json, whose
// keys come from its key template, drops the key preset.
func (in *apiMappingInput) applyTo(m *store.Mapping) {
	if in.Format != nil && *in.Format != m.Format {
		if in.FileExtension == nil {
			m.FileExtension = *in.Format
		}
		if in.KeyPreset == nil && *in.Format == store.FormatJSON {
			m.KeyPreset = ""
		}
		// Parquet has its own compression codecs, hive keys by default and
		// typed columns; leaving it drops the codecs only it takes.
		if *in.Format == store.FormatParquet {
			if in.Compression == nil {
				m.Compression = store.CompressionSnappy
			}
			if in.KeyPreset == nil {
				m.KeyPreset = format.PresetHive
			}
			if in.Columns == nil {
				m.Columns = typedColumns(m.Columns)
				if len(m.Columns) == 0 {
					m.Columns = typedColumns(defaultColumns())
				}
			}
		} else if in.Compression == nil && (m.Compression == store.CompressionSnappy || m.Compression == store.CompressionZstd) {
			m.Compression = store.CompressionNone
		}
	}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&m.Name, in.Name)
	set(&m.Trigger, in.Trigger)
	set(&m.Format, in.Format)
	set(&m.Delimiter, in.Delimiter)
	set(&m.FileExtension, in.FileExtension)
	set(&m.Compression, in.Compression)
	set(&m.KeyPreset, in.KeyPreset)
	set(&m.Folder, in.Folder)
	set(&m.FilenamePrefix, in.FilenamePrefix)
	set(&m.KeyTemplate, in.KeyTemplate)
	set(&m.BatchSizeColumnName, in.BatchSizeColumnName)
	set(&m.AudienceActionColumnName, in.AudienceActionColumnName)
	set(&m.PartitionTime, in.PartitionTime)
	if in.PartitionWindowHours != nil {
		m.PartitionWindowHours = *in.PartitionWindowHours
	}
	if in.Enabled != nil {
		m.Enabled = *in.Enabled
	}
	if in.Columns != nil {
		m.Columns = *in.Columns
	}
	if in.BatchSize != nil {
		m.BatchSize = *in.BatchSize
	}
	if in.BatchMaxBytes != nil {
		m.BatchMaxBytes = *in.BatchMaxBytes
	}
	if in.BatchMaxAgeSeconds != nil {
		m.BatchMaxAgeSeconds = *in.BatchMaxAgeSeconds
	}
}

func (s *Server) handleAPIMappingList(c echo.Context) error {
	_, ms, err := s.destinationMappings(c)
	if err != nil {
		return err
	}
	out := listResponse[apiMapping]{Data: []apiMapping{}}
	for _, m := range ms {
		out.Data = append(out.Data, toAPIMapping(m))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) handleAPIMappingCreate(c echo.Context) error {
	ctx := c.Request().Context()
	dest, err := s.db.DestinationByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	var in apiMappingInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.ID != nil {
		return store.FieldErrorf("id", "id is assigned by the server; leave it out.")
	}
	if err := in.requireTrigger(); err != nil {
		return err
	}
	f := store.FormatCSV
	if in.Format != nil && *in.Format != "" {
		f = *in.Format
	}
	m := newMapping(f)
	in.applyTo(m)
	m.DestinationID = dest.ID
	if _, err := compileMapping(m, dest); err != nil {
		return err
	}
	if err := s.db.CreateMapping(ctx, m); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toAPIMapping(m))
}

func (s *Server) handleAPIMappingGet(c echo.Context) error {
	m, err := s.db.MappingByID(c.Request().Context(), c.Param("id"), c.Param("mid"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIMapping(m))
}

func (s *Server) handleAPIMappingUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	dest, m, err := s.destinationMapping(c)
	if err != nil {
		return err
	}
	var in apiMappingInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	if in.ID != nil && *in.ID != m.ID {
		return store.FieldErrorf("id", "id cannot be changed.")
	}
	if err := in.requireTrigger(); err != nil {
		return err
	}
	in.applyTo(m)
	if _, err := compileMapping(m, dest); err != nil {
		return err
	}
	if err := s.db.UpdateMapping(ctx, m); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIMapping(m))
}

func (s *Server) handleAPIMappingDelete(c echo.Context) error {
	if err := s.db.DeleteMapping(c.Request().Context(), c.Param("id"), c.Param("mid")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiPreviewObject is one file of a preview. Body holds the object's exact
// bytes: as text, or base64 when BodyEncoding says so (gzip objects).
type apiPreviewObject struct {
	Key             string            `json:"key"`
	ContentType     string            `json:"content_type"`
	ContentEncoding string            `json:"content_encoding,omitempty"`
	Body            string            `json:"body"`
	BodyEncoding    string            `json:"body_encoding,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Events          int               `json:"events"`
	Warnings        []string          `json:"warnings,omitempty"`
	// Table shows a parquet file (body base64): its schema and first rows;
	// Nulls counts the values that did not fit their column's type.
	Table *format.Table        `json:"table,omitempty"`
	Nulls []format.ColumnNulls `json:"nulls,omitempty"`
}

// apiPreview is the answer of the preview route. Samples says where the
// events came from: "request", or when the request gave none, "recent"
// (the destination's sources' latest events) or "builtin".
type apiPreview struct {
	Objects []apiPreviewObject `json:"objects"`
	Samples string             `json:"samples"`
}

func (s *Server) handleAPIMappingPreview(c echo.Context) error {
	ctx := c.Request().Context()
	dest, m, err := s.destinationMapping(c)
	if err != nil {
		return err
	}
	var in struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	compiled, err := compileMapping(m, dest)
	if err != nil {
		return err
	}
	events, samples := []delivery.Sample{}, sampleRequest
	for _, raw := range in.Events {
		ev, err := delivery.DecodeSample(raw)
		if err != nil {
			return err
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		if events, samples, err = s.sampleEvents(ctx, dest); err != nil {
			return err
		}
	}
	objs, err := delivery.Render(compiled, delivery.FromDestination(events, dest), s.db.Now(), previewFileID)
	if err != nil {
		return explain(err)
	}
	out := apiPreview{Objects: []apiPreviewObject{}, Samples: samples}
	for _, o := range objs {
		p := apiPreviewObject{Key: o.Key, ContentType: o.ContentType, ContentEncoding: o.ContentEncoding, Body: string(o.Body),
			Metadata: o.Metadata, Events: o.Events, Warnings: o.Warnings}
		if o.ContentEncoding != "" || o.Table != nil {
			p.Body, p.BodyEncoding = base64.StdEncoding.EncodeToString(o.Body), "base64"
		}
		if o.Table != nil {
			p.Table, p.Nulls = o.Table, o.Nulls
			p.Warnings = append(p.Warnings, delivery.NullWarnings(o.Nulls)...)
		}
		out.Objects = append(out.Objects, p)
	}
	return c.JSON(http.StatusOK, out)
}

// apiTestSend is the answer of the test-send route.
type apiTestSend struct {
	DeliveryID string `json:"delivery_id"`
	Key        string `json:"key"`
	Status     string `json:"status"`
	Bytes      int64  `json:"bytes"`
	Error      string `json:"error,omitempty"`
}

func (s *Server) handleAPIMappingTestSend(c echo.Context) error {
	dest, m, err := s.destinationMapping(c)
	if err != nil {
		return err
	}
	var in struct {
		Event json.RawMessage `json:"event"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	var event delivery.Sample
	if len(in.Event) > 0 && string(in.Event) != "null" {
		if event, err = delivery.DecodeSample(in.Event); err != nil {
			return store.FieldErrorf("event", "event must be a JSON object.")
		}
	}
	d, err := s.sendTest(c.Request().Context(), dest, m, event)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiTestSend{DeliveryID: d.ID, Key: d.Key, Status: d.Status, Bytes: d.Bytes, Error: d.LastError})
}
