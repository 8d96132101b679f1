package store_test

import (
	"context"
	"testing"

	"github.com/s3relay/s3relay/store"
)

// TestSetupCodeIsOneForEveryReplica: replicas starting together on a new
// PostgreSQL database all show the code the first one stored, and a replica
// with another key cannot read it; once forgotten, the next code is new.
func TestSetupCodeIsOneForEveryReplica(t *testing.T) {
	ctx := context.Background()
	db1, db2 := twoHandles(t)
	if !db1.Postgres() {
		if _, err := db1.SetupCode(ctx, func() string { return "AAAA-BBBB-CCCC" }); err == nil {
			t.Fatal("SQLite keeps its setup code in the data dir, not the database: want an error")
		}
		if err := db1.ForgetSetupCode(ctx); err != nil {
			t.Fatal(err)
		}
		return
	}
	keys, err := store.LoadKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db1.UseKeys(keys)
	db2.UseKeys(keys)
	codes := []string{"AAAA-AAAA-AAAA", "BBBB-BBBB-BBBB"}
	c1, c2 := "", ""
	e1, e2 := together(
		func() (err error) { c1, err = db1.SetupCode(ctx, func() string { return codes[0] }); return err },
		func() (err error) { c2, err = db2.SetupCode(ctx, func() string { return codes[1] }); return err })
	if e1 != nil || e2 != nil {
		t.Fatal(e1, e2)
	}
	if c1 != c2 || (c1 != codes[0] && c1 != codes[1]) {
		t.Fatalf("replicas show %q and %q: want one of %q for both", c1, c2, codes)
	}
	if again, err := db2.SetupCode(ctx, func() string { return "CCCC-CCCC-CCCC" }); err != nil || again != c1 {
		t.Fatalf("a restart shows %q (%v), want the stored %q", again, err, c1)
	}
	other, err := store.LoadKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db2.UseKeys(other)
	if code, err := db2.SetupCode(ctx, func() string { return "DDDD-DDDD-DDDD" }); err == nil {
		t.Fatalf("another key read the code %q: want an error", code)
	}
	db2.UseKeys(keys)
	if err := db1.ForgetSetupCode(ctx); err != nil {
		t.Fatal(err)
	}
	if code, err := db2.SetupCode(ctx, func() string { return "EEEE-EEEE-EEEE" }); err != nil || code != "EEEE-EEEE-EEEE" {
		t.Fatalf("after ForgetSetupCode: %q (%v), want a new code", code, err)
	}
}
