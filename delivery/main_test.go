package delivery_test

import (
	"os"
	"testing"

	"github.com/s3relay/s3relay/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}
