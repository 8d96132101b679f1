// Package static holds the dashboard's stylesheets, scripts, icon and the
// third-party assets that `make assets` copies from npm into vendor/ (the
// dashboard's) and sdk/ (the browser SDKs other sites load).
package static

import "embed"

// FS holds every static file, served under /static/.
//
//go:embed css img js vendor sdk
var FS embed.FS
