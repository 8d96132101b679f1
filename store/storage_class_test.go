package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/s3relay/s3relay/store"
)

// Storage classes match in any case against every class the AWS SDK knows;
// the stored value is S3's upper-case name.
func TestDestinationStorageClass(t *testing.T) {
	tests := []struct{ in, want, field string }{
		{"", "STANDARD", ""},
		{"STANDARD_IA", "STANDARD_IA", ""},
		{"standard_ia", "STANDARD_IA", ""},
		{" Glacier_IR ", "GLACIER_IR", ""},
		{"intelligent_tiering", "INTELLIGENT_TIERING", ""},
		// Not in the contract's list, but known to the SDK.
		{"express_onezone", "EXPRESS_ONEZONE", ""},
		{"COLD", "", "storage_class"},
		{"standard-ia", "", "storage_class"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d := validDestination()
			d.Config.StorageClass = tt.in
			err := d.Validate()
			if got := store.ErrorField(err); got != tt.field {
				t.Fatalf("field = %q (%v), want %q", got, err, tt.field)
			}
			if tt.field != "" {
				if msg := store.ErrorMessage(err); !strings.Contains(msg, "STANDARD_IA") || !strings.Contains(msg, "EXPRESS_ONEZONE") {
					t.Errorf("message %q does not list the valid classes", msg)
				}
				return
			}
			if d.Config.StorageClass != tt.want {
				t.Errorf("storage class = %q, want %q", d.Config.StorageClass, tt.want)
			}
		})
	}

	db := MustOpen(t)
	ctx := context.Background()
	d := validDestination()
	d.Config.StorageClass = "onezone_ia"
	if err := db.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := db.DestinationByID(ctx, d.ID)
	if err != nil || got.Config.StorageClass != "ONEZONE_IA" {
		t.Errorf("stored storage class = %q (%v), want ONEZONE_IA", got.Config.StorageClass, err)
	}
	got.Config.StorageClass = "deep_archive"
	if err := db.UpdateDestination(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.DestinationByID(ctx, d.ID); got.Config.StorageClass != "DEEP_ARCHIVE" {
		t.Errorf("updated storage class = %q, want DEEP_ARCHIVE", got.Config.StorageClass)
	}
}

// AllStorageClasses starts with the contract's classes, in its order.
func TestAllStorageClasses(t *testing.T) {
	all := store.AllStorageClasses()
	if !slices.Equal(all[:len(store.StorageClasses)], store.StorageClasses) {
		t.Errorf("AllStorageClasses starts %v, want the contract's %v", all[:len(store.StorageClasses)], store.StorageClasses)
	}
	for _, sc := range []string{"EXPRESS_ONEZONE", "OUTPOSTS", "SNOW"} {
		if !slices.Contains(all, sc) {
			t.Errorf("AllStorageClasses lacks %s: %v", sc, all)
		}
	}
}
