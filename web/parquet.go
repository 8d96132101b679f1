package web

import (
	"context"

	"github.com/s3relay/s3relay/delivery"
	"github.com/s3relay/s3relay/delivery/format"
	"github.com/s3relay/s3relay/store"
	"github.com/s3relay/s3relay/views"
)

// parquetTable shows a parquet file's schema and first rows, with the
// values written as null because they did not fit their column.
func parquetTable(t *format.Table, nulls []format.ColumnNulls) *views.ParquetTable {
	v := &views.ParquetTable{Rows: t.Rows, Total: t.TotalRows, RowGroups: t.RowGroups, Warnings: delivery.NullWarnings(nulls)}
	for _, c := range t.Schema {
		v.Columns = append(v.Columns, views.ParquetColumn{Name: c.Name, Physical: c.Physical, Logical: c.Logical})
	}
	return v
}

// queryIt is the "Query it" box of a saved parquet mapping: Athena and
// DuckDB SQL over its files; nil for other formats or a mapping that does
// not compile.
func queryIt(m *store.Mapping, dest *store.Destination) *views.QueryIt {
	if m == nil || m.Format != store.FormatParquet {
		return nil
	}
	c, err := delivery.Compile(m, dest.Config)
	if err != nil {
		return nil
	}
	bucket := dest.Config.Bucket
	if bucket == "" {
		bucket = "my-bucket"
	}
	return &views.QueryIt{Athena: c.Format.AthenaDDL(bucket, format.TableName(m.Name)), DuckDB: c.Format.DuckDBQuery(bucket)}
}

// parquetNulls counts, for a parquet delivery whose events are stored, the
// values written as null because they did not fit their column's type;
// nil for other files, test sends and mappings that no longer compile.
func (s *Server) parquetNulls(ctx context.Context, d *store.Delivery) ([]format.ColumnNulls, error) {
	if d.Test {
		return nil, nil
	}
	m, err := s.db.MappingByID(ctx, d.DestinationID, d.MappingID)
	if store.ErrorCode(err) == store.ENOTFOUND || err == nil && m.Format != store.FormatParquet {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	dest, err := s.db.DestinationByID(ctx, d.DestinationID)
	if err != nil {
		return nil, err
	}
	c, err := delivery.Compile(m, dest.Config)
	if err != nil {
		return nil, nil
	}
	_, nulls, err := delivery.StoredTable(ctx, s.db, c, d)
	return nulls, err
}
