package pgtest_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/s3relay/s3relay/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func TestURLGivesFreshDatabases(t *testing.T) {
	ctx := context.Background()
	var urls []string
	for range 2 {
		urls = append(urls, pgtest.URL(t))
	}
	if urls[0] == urls[1] {
		t.Fatalf("two calls gave the same database %s", urls[0])
	}
	a, err := sql.Open("pgx", urls[0])
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.ExecContext(ctx, `CREATE TABLE t (v BIGINT)`); err != nil {
		t.Fatal(err)
	}
	b, err := sql.Open("pgx", urls[1])
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var n int
	if err := b.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 't'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if got, want := n, 0; got != want {
		t.Errorf("second database sees table t: got %d, want %d", got, want)
	}
}

// TestServerStopsAndStartsAgainWithItsData: a test's own server refuses
// connections while stopped and comes back on the same URL with its data.
func TestServerStopsAndStartsAgainWithItsData(t *testing.T) {
	ctx := context.Background()
	s := pgtest.NewServer(t)
	db, err := sql.Open("pgx", s.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (v BIGINT); INSERT INTO t VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	s.Stop(t)
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("ping of a stopped server succeeded")
	}
	s.Start(t)
	var v int
	if err := db.QueryRowContext(ctx, `SELECT v FROM t`).Scan(&v); err != nil || v != 42 {
		t.Fatalf("after the restart: %d, %v; want 42", v, err)
	}
}
