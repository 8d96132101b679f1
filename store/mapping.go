package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxMappings is how many mappings a destination may have.
const MaxMappings = 50

// MaxTriggerBytes is the longest trigger a mapping may have.
const MaxTriggerBytes = 4096

// MaxMappingTextBytes is the longest column name, column value or key
// template a mapping may hold, whatever its format (delivery/format checks the
// same bound on the expressions it parses): text a format does not use is
// stored and shown all the same.
const MaxMappingTextBytes = 4096

// Mapping formats and compressions.
const (
	FormatCSV   = "csv"
	FormatTXT   = "txt"
	FormatJSONL = "jsonl"
	FormatJSON  = "json"
	// FormatParquet writes typed parquet files (see Column.Type).
	FormatParquet = "parquet"

	CompressionNone = "none"
	CompressionGzip = "gzip"
	// Snappy (the parquet default) and zstd compress inside parquet files.
	CompressionSnappy = "snappy"
	CompressionZstd   = "zstd"
)

// Mapping batch limits.
const (
	DefaultBatchSize     = 1000
	MaxBatchSize         = 100000
	DefaultBatchMaxBytes = 10 << 20
	MinBatchMaxBytes     = 1 << 10
	MaxBatchMaxBytes     = 1 << 30
	DefaultBatchMaxAge   = 60
	MaxBatchMaxAge       = 24 * 60 * 60
)

// Partition times of a mapping: which time's UTC hour names the folders of
// its files (hive, segment_classic, the date tokens of custom keys). With
// received, the time the file is sealed, as Segment classic and Firehose
// do; with event, files are split by their events' own hour, bounded by
// PartitionWindowHours.
const (
	PartitionTimeReceived = "received"
	PartitionTimeEvent    = "event"

	DefaultPartitionWindowHours = 168
	MaxPartitionWindowHours     = 8760
)

// DefaultTrigger is the trigger of a new mapping, as in Segment's S3 action.
const DefaultTrigger = `type = "track" or type = "identify"`

// Column is one column of a csv or txt file. Normalize and Hash are
// Segment's column transforms (see delivery/format); Transform is their
// older form, kept for mappings and clients that use it.
type Column struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Transform string `json:"transform,omitempty"`
	Normalize string `json:"normalize,omitempty"`
	Hash      string `json:"hash,omitempty"`
	// Type is the column's parquet type (string, int64, double, boolean,
	// timestamp, json, date); empty takes the default of its name.
	Type string `json:"type,omitempty"`
}

// Mapping says which events of a destination's sources go into which files.
type Mapping struct {
	ID                       string
	DestinationID            string
	Position                 int
	Name                     string
	Enabled                  bool
	Trigger                  string
	Format                   string
	Columns                  []Column
	Delimiter                string
	FileExtension            string
	Compression              string
	KeyPreset                string
	Folder                   string
	FilenamePrefix           string
	KeyTemplate              string
	BatchSize                int
	BatchMaxBytes            int64
	BatchMaxAgeSeconds       int
	BatchSizeColumnName      string
	AudienceActionColumnName string
	// PartitionTime is PartitionTimeReceived (default) or PartitionTimeEvent;
	// PartitionWindowHours bounds how old an event's own time may be, before
	// its receipt, to name its partition.
	PartitionTime        string
	PartitionWindowHours int
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// ApplyDefaults fills what a new mapping leaves unset.
func (m *Mapping) ApplyDefaults() {
	if m.Trigger == "" {
		m.Trigger = DefaultTrigger
	}
	if m.Format == "" {
		m.Format = FormatCSV
	}
	if m.Compression == "" {
		m.Compression = CompressionNone
		if m.Format == FormatParquet {
			m.Compression = CompressionSnappy
		}
	}
	if m.Delimiter == "" && (m.Format == FormatCSV || m.Format == FormatTXT) {
		m.Delimiter = ","
	}
	if m.BatchSize == 0 {
		m.BatchSize = DefaultBatchSize
	}
	if m.BatchMaxBytes == 0 {
		m.BatchMaxBytes = DefaultBatchMaxBytes
	}
	if m.BatchMaxAgeSeconds == 0 {
		m.BatchMaxAgeSeconds = DefaultBatchMaxAge
	}
	if m.PartitionTime == "" {
		m.PartitionTime = PartitionTimeReceived
	}
	if m.PartitionWindowHours == 0 {
		m.PartitionWindowHours = DefaultPartitionWindowHours
	}
}

// Validate checks a mapping's structure: names, enums and limits. The
// delivery engine checks what needs its own packages (trigger syntax, column
// expressions, key templates).
func (m *Mapping) Validate() error {
	m.Name = strings.TrimSpace(m.Name)
	switch {
	case m.Name == "":
		return FieldErrorf("name", "Name is required.")
	case utf8.RuneCountInString(m.Name) > 100:
		return FieldErrorf("name", "Name must be at most 100 characters.")
	case !plainText(m.Name):
		return FieldErrorf("name", notPlainText, "Name")
	case strings.TrimSpace(m.Trigger) == "":
		return FieldErrorf("trigger", "Trigger is required, e.g. %s.", DefaultTrigger)
	case len(m.Trigger) > MaxTriggerBytes:
		return FieldErrorf("trigger", "Trigger must be at most %d bytes.", MaxTriggerBytes)
	case !contains([]string{FormatCSV, FormatTXT, FormatJSONL, FormatJSON, FormatParquet}, m.Format):
		return FieldErrorf("format", "Format must be csv, txt, jsonl, json or parquet.")
	case m.Format == FormatParquet && !contains([]string{CompressionSnappy, CompressionZstd, CompressionGzip, CompressionNone}, m.Compression):
		return FieldErrorf("compression", "Compression of parquet files must be snappy, zstd, gzip or none.")
	case m.Format != FormatParquet && !contains([]string{CompressionNone, CompressionGzip}, m.Compression):
		return FieldErrorf("compression", "Compression must be none or gzip (snappy and zstd are for parquet).")
	case m.BatchSize < 1 || m.BatchSize > MaxBatchSize:
		return FieldErrorf("batch_size", "Batch size must be between 1 and %d events.", MaxBatchSize)
	case m.BatchMaxBytes < MinBatchMaxBytes || m.BatchMaxBytes > MaxBatchMaxBytes:
		return FieldErrorf("batch_max_bytes", "Batch max bytes must be between %d and %d.", MinBatchMaxBytes, MaxBatchMaxBytes)
	case m.BatchMaxAgeSeconds < 1 || m.BatchMaxAgeSeconds > MaxBatchMaxAge:
		return FieldErrorf("batch_max_age_seconds", "Batch max age must be between 1 and %d seconds.", MaxBatchMaxAge)
	case !contains([]string{PartitionTimeReceived, PartitionTimeEvent}, m.PartitionTime):
		return FieldErrorf("partition_time", "Partition time must be received or event.")
	case m.PartitionWindowHours < 1 || m.PartitionWindowHours > MaxPartitionWindowHours:
		return FieldErrorf("partition_window_hours", "Partition window must be between 1 and %d hours.", MaxPartitionWindowHours)
	case len(m.Columns) > 200:
		return FieldErrorf("columns", "A mapping has at most 200 columns.")
	case len(m.KeyTemplate) > MaxMappingTextBytes:
		return FieldErrorf("key_template", "Key template is %d bytes long; at most %d are allowed.", len(m.KeyTemplate), MaxMappingTextBytes)
	}
	for i, c := range m.Columns {
		if len(c.Name) > MaxMappingTextBytes {
			return FieldErrorf(fmt.Sprintf("columns[%d].name", i), "Column %d name is %d bytes long; at most %d are allowed.", i+1, len(c.Name), MaxMappingTextBytes)
		}
		if len(c.Value) > MaxMappingTextBytes {
			return FieldErrorf(fmt.Sprintf("columns[%d].value", i), "Column %d value is %d bytes long; at most %d are allowed.", i+1, len(c.Value), MaxMappingTextBytes)
		}
	}
	return nil
}

const mappingColumns = `id, destination_id, position, name, enabled, trigger, format, columns, delimiter, file_extension, compression,
	key_preset, folder, filename_prefix, key_template, batch_size, batch_max_bytes, batch_max_age_seconds,
	batch_size_column_name, audience_action_column_name, partition_time, partition_window_hours, created_at, updated_at`

func scanMapping(s scanner) (*Mapping, error) {
	var m Mapping
	var cols string
	var created, updated int64
	if err := s.Scan(&m.ID, &m.DestinationID, &m.Position, &m.Name, &m.Enabled, &m.Trigger, &m.Format, &cols, &m.Delimiter,
		&m.FileExtension, &m.Compression, &m.KeyPreset, &m.Folder, &m.FilenamePrefix, &m.KeyTemplate, &m.BatchSize,
		&m.BatchMaxBytes, &m.BatchMaxAgeSeconds, &m.BatchSizeColumnName, &m.AudienceActionColumnName, &m.PartitionTime, &m.PartitionWindowHours, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(cols), &m.Columns); err != nil {
		return nil, fmt.Errorf("mapping %s columns: %w", m.ID, err)
	}
	m.CreatedAt, m.UpdatedAt = fromMS(created), fromMS(updated)
	return &m, nil
}

// CreateMapping stores a new mapping at the end of its destination's list.
// It starts with the events received after it is created. Returns EINVALID,
// ENOTFOUND (destination) or ELIMIT past MaxMappings.
func (db *DB) CreateMapping(ctx context.Context, m *Mapping) error {
	m.ApplyDefaults()
	if err := m.Validate(); err != nil {
		return err
	}
	cols, err := json.Marshal(m.Columns)
	if err != nil {
		return fmt.Errorf("create mapping: %w", err)
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create mapping: %w", err)
	}
	defer tx.Rollback()
	// The destination's row is locked (on PostgreSQL; SQLite has one writer)
	// while its mappings are counted, so two creations cannot both take the
	// last place or the same position.
	var id string
	err = tx.QueryRowContext(ctx, `SELECT id FROM destinations WHERE id = ?`+db.d.forUpdate(), m.DestinationID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Errorf(ENOTFOUND, "Destination not found.")
	}
	if err != nil {
		return fmt.Errorf("create mapping: %w", err)
	}
	var count int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM mappings WHERE destination_id = ?`, m.DestinationID).Scan(&count); err != nil {
		return fmt.Errorf("create mapping: %w", err)
	}
	if count >= MaxMappings {
		return Errorf(ELIMIT, "A destination has at most %d mappings; delete one first.", MaxMappings)
	}
	now := db.Now()
	m.ID, m.Position, m.CreatedAt, m.UpdatedAt = NewID("map"), count, now, now
	if _, err := tx.ExecContext(ctx, `INSERT INTO mappings (`+mappingColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.DestinationID, m.Position, m.Name, m.Enabled, m.Trigger, m.Format, string(cols), m.Delimiter, m.FileExtension, m.Compression,
		m.KeyPreset, m.Folder, m.FilenamePrefix, m.KeyTemplate, m.BatchSize, m.BatchMaxBytes, m.BatchMaxAgeSeconds,
		m.BatchSizeColumnName, m.AudienceActionColumnName, m.PartitionTime, m.PartitionWindowHours, ms(now), ms(now)); err != nil {
		return fmt.Errorf("create mapping: %w", err)
	}
	// The cursor starts at the newest event stored: those received before the
	// mapping existed are not its business.
	q := `INSERT INTO mapping_cursors (mapping_id, routed_seq) VALUES (?, (SELECT coalesce(max(seq), 0) FROM events))`
	if db.d.postgres {
		q = `INSERT INTO mapping_cursors (mapping_id, routed_xid, routed_seq)
			SELECT ?, coalesce(max(xid), 0), coalesce(max(seq), 0) FROM (SELECT xid, seq FROM events ORDER BY xid DESC, seq DESC LIMIT 1) AS newest`
	}
	if _, err := tx.ExecContext(ctx, q, m.ID); err != nil {
		return fmt.Errorf("create mapping: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create mapping: %w", err)
	}
	return nil
}

// UpdateMapping stores changes to a mapping. Returns EINVALID or ENOTFOUND.
func (db *DB) UpdateMapping(ctx context.Context, m *Mapping) error {
	m.ApplyDefaults()
	if err := m.Validate(); err != nil {
		return err
	}
	cols, err := json.Marshal(m.Columns)
	if err != nil {
		return fmt.Errorf("update mapping: %w", err)
	}
	m.UpdatedAt = db.Now()
	res, err := db.write.ExecContext(ctx, `UPDATE mappings SET name = ?, enabled = ?, trigger = ?, format = ?, columns = ?, delimiter = ?,
		file_extension = ?, compression = ?, key_preset = ?, folder = ?, filename_prefix = ?, key_template = ?, batch_size = ?,
		batch_max_bytes = ?, batch_max_age_seconds = ?, batch_size_column_name = ?, audience_action_column_name = ?,
		partition_time = ?, partition_window_hours = ?, updated_at = ?
		WHERE id = ? AND destination_id = ?`,
		m.Name, m.Enabled, m.Trigger, m.Format, string(cols), m.Delimiter, m.FileExtension, m.Compression, m.KeyPreset, m.Folder,
		m.FilenamePrefix, m.KeyTemplate, m.BatchSize, m.BatchMaxBytes, m.BatchMaxAgeSeconds, m.BatchSizeColumnName,
		m.AudienceActionColumnName, m.PartitionTime, m.PartitionWindowHours, ms(m.UpdatedAt), m.ID, m.DestinationID)
	if err != nil {
		return fmt.Errorf("update mapping: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "Mapping not found.")
	}
	return nil
}

// MappingByID returns a mapping of a destination. Returns ENOTFOUND.
func (db *DB) MappingByID(ctx context.Context, destinationID, id string) (*Mapping, error) {
	m, err := scanMapping(db.read.QueryRowContext(ctx, `SELECT `+mappingColumns+` FROM mappings WHERE id = ? AND destination_id = ?`, id, destinationID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "Mapping not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("get mapping: %w", err)
	}
	return m, nil
}

// ListMappings returns a destination's mappings in their order.
func (db *DB) ListMappings(ctx context.Context, destinationID string) ([]*Mapping, error) {
	return db.queryMappings(ctx, `SELECT `+mappingColumns+` FROM mappings WHERE destination_id = ? ORDER BY position, id`, destinationID)
}

// MappingsByDestination returns every destination's mappings in their
// order, in one query: what lists of many destinations show.
func (db *DB) MappingsByDestination(ctx context.Context) (map[string][]*Mapping, error) {
	ms, err := db.queryMappings(ctx, `SELECT `+mappingColumns+` FROM mappings ORDER BY destination_id, position, id`)
	if err != nil {
		return nil, err
	}
	out := map[string][]*Mapping{}
	for _, m := range ms {
		out[m.DestinationID] = append(out[m.DestinationID], m)
	}
	return out, nil
}

// RoutingVersion changes whenever a mapping or a destination is added,
// removed or updated: a query cheap enough for the router to ask often, on
// whichever replica the change was made, before reloading ActiveMappings.
func (db *DB) RoutingVersion(ctx context.Context) (string, error) {
	var m, d string
	err := db.read.QueryRowContext(ctx, `SELECT
		(SELECT CAST(count(*) AS TEXT) || ':' || CAST(coalesce(sum(updated_at), 0) AS TEXT) FROM mappings),
		(SELECT CAST(count(*) AS TEXT) || ':' || CAST(coalesce(sum(updated_at), 0) AS TEXT) FROM destinations)`).Scan(&m, &d)
	if err != nil {
		return "", fmt.Errorf("routing version: %w", err)
	}
	return m + "|" + d, nil
}

// ActiveMappings returns every enabled mapping of an enabled destination:
// what the delivery engine routes events to.
func (db *DB) ActiveMappings(ctx context.Context) ([]*Mapping, error) {
	return db.queryMappings(ctx, `SELECT `+prefixed("m.", mappingColumns)+` FROM mappings m JOIN destinations d ON d.id = m.destination_id
		WHERE m.enabled = 1 AND d.enabled = 1 ORDER BY m.destination_id, m.position`)
}

func (db *DB) queryMappings(ctx context.Context, q string, args ...any) ([]*Mapping, error) {
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list mappings: %w", err)
	}
	defer rows.Close()
	ms := []*Mapping{}
	for rows.Next() {
		m, err := scanMapping(rows)
		if err != nil {
			return nil, fmt.Errorf("list mappings: %w", err)
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// prefixed qualifies a column list with a table alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// DeleteMapping deletes a mapping and its delivery history. Returns ENOTFOUND.
func (db *DB) DeleteMapping(ctx context.Context, destinationID, id string) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM mappings WHERE id = ? AND destination_id = ?`, id, destinationID)
	if err != nil {
		return fmt.Errorf("delete mapping: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "Mapping not found.")
	}
	return nil
}
