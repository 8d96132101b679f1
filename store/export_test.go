package store

import (
	"context"
	"io/fs"
)

// OpenWith opens a database with a chosen migration set, so tests can write a
// data dir as an older release would have.
func OpenWith(ctx context.Context, path string, fsys fs.FS, dir string) (*DB, error) {
	return openWith(ctx, path, fsys, dir)
}

// MigrationFS is the embedded migration set.
var MigrationFS = migrationFS
