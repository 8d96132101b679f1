package store_test

import (
	"testing"

	"github.com/s3relay/s3relay/store"
)

func TestNamesRefuseControlCharacters(t *testing.T) {
	for _, name := range []string{"a\x00b", "a\nb", "a\tb", "a\x7fb", "a\u0085b", "a\u009fb", "a\xffb"} {
		checks := map[string]error{
			"source":      (&store.Source{Name: name}).Validate(),
			"destination": (&store.Destination{Name: name}).Validate(),
			"mapping":     (&store.Mapping{Name: name, Trigger: store.DefaultTrigger, Format: store.FormatCSV}).Validate(),
			"email":       store.ValidateCredentials("ada"+name+"@example.com", "correct horse battery"),
		}
		for what, err := range checks {
			want := "name"
			if what == "email" {
				want = "email"
			}
			if store.ErrorCode(err) != store.EINVALID || store.ErrorField(err) != want {
				t.Errorf("%s %q: %v, want an invalid %s", what, name, err, want)
			}
		}
	}
	if err := (&store.Source{Name: "Café 🦄 — web"}).Validate(); err != nil {
		t.Errorf("a plain name: %v", err)
	}
}
