package format

import (
	"fmt"
	"strings"
)

// athenaTypes are the Athena (Hive DDL) types of the parquet column types.
var athenaTypes = map[string]string{
	TypeString: "string", TypeInt64: "bigint", TypeDouble: "double", TypeBoolean: "boolean",
	TypeTimestamp: "timestamp", TypeJSON: "string", TypeDate: "date",
}

// KeyPrefix is the part of every key before the layout's own folders: the
// path prefix and the folder.
func (f *Format) KeyPrefix() string { return f.key.prefix + f.key.folder }

// TableName turns a mapping's name into an SQL table name: lowercase
// letters, digits and "_", prefixed with "s3relay_".
func TableName(name string) string {
	var b strings.Builder
	b.WriteString("s3relay_")
	last := '_'
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			last = r
		} else if last != '_' {
			b.WriteByte('_')
			last = '_'
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// AthenaDDL is an Athena CREATE EXTERNAL TABLE for the parquet files of f
// in bucket; for the hive layout, partitioned by dt and hour with partition
// projection, so that new folders are queryable with no crawler and no
// MSCK REPAIR TABLE.
func (f *Format) AthenaDDL(bucket, table string) string {
	if f.spec.Format != Parquet {
		return ""
	}
	loc := "s3://" + bucket + "/" + f.KeyPrefix()
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS `%s` (\n", table)
	for i, c := range f.pq {
		sep := ","
		if i == len(f.pq)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  `%s` %s%s\n", strings.ReplaceAll(strings.ToLower(c.name), "`", ""), athenaTypes[c.typ], sep)
	}
	b.WriteString(")\n")
	hive := f.key.preset == PresetHive
	if hive {
		b.WriteString("PARTITIONED BY (`dt` string, `hour` int)\n")
	}
	b.WriteString("STORED AS PARQUET\n")
	fmt.Fprintf(&b, "LOCATION '%s'\n", loc)
	b.WriteString("TBLPROPERTIES (\n")
	if hive {
		b.WriteString("  'projection.enabled' = 'true',\n")
		b.WriteString("  'projection.dt.type' = 'date',\n")
		b.WriteString("  'projection.dt.format' = 'yyyy-MM-dd',\n")
		b.WriteString("  'projection.dt.range' = '2024-01-01,NOW',\n")
		b.WriteString("  'projection.dt.interval' = '1',\n")
		b.WriteString("  'projection.dt.interval.unit' = 'DAYS',\n")
		b.WriteString("  'projection.hour.type' = 'integer',\n")
		b.WriteString("  'projection.hour.range' = '0,23',\n")
		b.WriteString("  'projection.hour.digits' = '2',\n")
		fmt.Fprintf(&b, "  'storage.location.template' = '%sdt=${dt}/hour=${hour}/',\n", loc)
	}
	codec := map[string]string{Snappy: "SNAPPY", Zstd: "ZSTD", Gzip: "GZIP", None: "UNCOMPRESSED"}[f.spec.Compression]
	fmt.Fprintf(&b, "  'parquet.compression' = '%s'\n);", codec)
	return b.String()
}

// DuckDBQuery reads the parquet files of f in bucket with DuckDB, the hive
// folders as the dt and hour columns.
func (f *Format) DuckDBQuery(bucket string) string {
	if f.spec.Format != Parquet {
		return ""
	}
	order := ""
	for _, c := range f.pq {
		if c.name == "timestamp" {
			order = "ORDER BY \"timestamp\" DESC\n"
		}
	}
	return fmt.Sprintf("SELECT *\nFROM read_parquet('s3://%s/%s**/*.parquet', hive_partitioning = true)\n%sLIMIT 100;", bucket, f.KeyPrefix(), order)
}
