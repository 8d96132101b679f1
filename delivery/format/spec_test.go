package format_test

import (
	"strings"
	"testing"

	"github.com/s3relay/s3relay/delivery/format"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name      string
		spec      format.Spec
		wantField string
		wantText  string
	}{
		{"format required", format.Spec{}, "format", "required"},
		{"unknown format", format.Spec{Format: "xml"}, "format", "csv, txt, jsonl, json or parquet"},
		{"unknown compression", format.Spec{Format: format.JSONL, Compression: "zstd"}, "compression", "none or gzip"},
		{"unknown delimiter", format.Spec{Format: format.CSV, Delimiter: "\t", Columns: cols}, "delimiter", `"tab"`},
		{"csv extension choices", format.Spec{Format: format.CSV, FileExtension: "tsv", Columns: cols}, "file_extension", "csv, txt"},
		{"jsonl extension choices", format.Spec{Format: format.JSONL, FileExtension: "csv"}, "file_extension", "jsonl, ndjson, json"},
		{"no columns", format.Spec{Format: format.CSV}, "columns", "at least one"},
		{"only blank columns", format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "a", Value: " "}}}, "columns", "at least one"},
		{"column name required", format.Spec{Format: format.CSV, Columns: []format.Column{{Value: "$.a"}}}, "columns[0].name", "required"},
		{"column name with the delimiter", format.Spec{Format: format.CSV, Delimiter: "|",
			Columns: []format.Column{{Name: "a|b", Value: "$.a"}}}, "columns[0].name",
			"Column names cannot contain the delimiter '|': a reader would split this header into two columns. Segment silently removes the first '|'; rename the column."},
		{"column name with a comma", format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "a", Value: "$.a"}, {Name: "b,c", Value: "$.b"}}},
			"columns[1].name", "cannot contain the delimiter ','"},
		{"column name with a tab", format.Spec{Format: format.TXT, Delimiter: "tab", Columns: []format.Column{{Name: "a\tb", Value: "$.a"}}},
			"columns[0].name", "cannot contain the delimiter (tab)"},
		{"extra column name with the delimiter", format.Spec{Format: format.CSV, Columns: cols, BatchSizeColumn: "batch,size"},
			"batch_size_column_name", "cannot contain the delimiter ','"},
		{"column name with a quote", format.Spec{Format: format.CSV, Columns: []format.Column{{Name: `a"b`, Value: "$.a"}}}, "columns[0].name", "double quote"},
		{"column name with a newline", format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "a\nb", Value: "$.a"}}}, "columns[0].name", "line break"},
		{"duplicate column names", format.Spec{Format: format.CSV,
			Columns: []format.Column{{Name: "a", Value: "$.a"}, {Name: "b", Value: ""}, {Name: "a", Value: "$.b"}}}, "columns[2].name", "columns[0].name"},
		{"audience column clashes", format.Spec{Format: format.CSV, Columns: cols, AudienceActionColumn: "v"},
			"audience_action_column_name", "columns[0].name"},
		{"batch column clashes", format.Spec{Format: format.CSV, Columns: cols, AudienceActionColumn: "x", BatchSizeColumn: "x"},
			"batch_size_column_name", "audience_action_column_name"},
		{"JMESPath syntax error has the offset", format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "a", Value: "a.["}}},
			"columns[0].value", "offset 3"},
		{"unknown JMESPath function", format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "a", Value: "nope(a)"}}},
			"columns[0].value", "unknown function nope()"},
		{"bad path has the offset", format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "a", Value: "$.a['b"}}},
			"columns[0].value", "offset 4: unterminated quote"},
		{"empty path segment", format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "a", Value: "$..a"}}},
			"columns[0].value", "offset 2"},
		{"unknown transform", format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "a", Value: "$.a", Transform: "md5"}}},
			"columns[0].transform", "sha256 or normalize"},
		{"unknown normalize", format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "a", Value: "$.a", Normalize: "uppercase"}}},
			"columns[0].normalize", "none, lowercase, trim or lowercase_trim"},
		{"unknown hash", format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "a", Value: "$.a", Hash: "md5"}}},
			"columns[0].hash", "none or sha256"},
		{"transform with hash", format.Spec{Format: format.CSV, Columns: []format.Column{{Name: "a", Value: "$.a", Transform: "sha256", Hash: "sha256"}}},
			"columns[0].transform", "not both"},
		{"unknown key preset", format.Spec{Format: format.JSONL, KeyPreset: "daily"}, "key_preset", "segment_actions"},
		{"classic needs gzip", format.Spec{Format: format.JSONL, KeyPreset: format.PresetSegmentClassic}, "compression", "gzip"},
		{"custom needs a template", format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom}, "key_template", "required"},
		{"custom needs a unique token", format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "{date}/{unix_ms}.jsonl"},
			"key_template", "{file_id} or {suffix}"},
		{"custom unknown token", format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "{date}/{year}/{file_id}"},
			"key_template", "unknown token {year} at offset 7"},
		{"custom unclosed brace", format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "{file_id}/{date"},
			"key_template", "unclosed '{' at offset 10"},
		{"custom stray brace", format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "a}{file_id}"},
			"key_template", "unexpected '}' at offset 1"},
		{"custom template with a leading slash", format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "/{file_id}"},
			"key_template", `starts with "/"`},
		{"custom template with a double slash", format.Spec{Format: format.JSONL, KeyPreset: format.PresetCustom, KeyTemplate: "a//{file_id}"},
			"key_template", `"//"`},
		{"folder with a dot-dot segment", format.Spec{Format: format.JSONL, Folder: "a/../b"}, "folder", `".."`},
		{"folder with a double slash", format.Spec{Format: format.JSONL, Folder: "a//b"}, "folder", `"//"`},
		{"filename prefix with a leading slash", format.Spec{Format: format.JSONL, FilenamePrefix: "/x"}, "filename_prefix", `starts with "/"`},
		{"path prefix with a dot segment", format.Spec{Format: format.JSONL, PathPrefix: "./x"}, "path_prefix", `"."`},
		{"folder too long for any key", format.Spec{Format: format.JSONL, Folder: strings.Repeat("f", 1000)}, "folder", "1,024"},
		{"json key template syntax", format.Spec{Format: format.JSON, KeyTemplate: "join('', [time.date"}, "key_template", "offset"},
		{"json path prefix", format.Spec{Format: format.JSON, PathPrefix: "a//b"}, "path_prefix", `"//"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := format.Compile(tt.spec)
			if err == nil {
				t.Fatalf("got nil error, want one on %s", tt.wantField)
			}
			if got := fieldOf(err); got != tt.wantField {
				t.Errorf("field: got %q (%v), want %q", got, err, tt.wantField)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("message: got %q, want it to contain %q", err.Error(), tt.wantText)
			}
		})
	}
}

func TestCompileDefaults(t *testing.T) {
	f := MustCompile(t, format.Spec{Format: format.CSV, Columns: format.DefaultColumns()})
	checkObjectHeaders(t, f, "csv", "text/csv", "")
	if got, want := len(format.DefaultColumns()), 14; got != want {
		t.Errorf("default columns: got %d, want Segment's %d", got, want)
	}
	if got, want := strings.Join(format.Delimiters(), " "), ", | tab ; :"; got != want {
		t.Errorf("delimiters: got %q, want %q", got, want)
	}
}
