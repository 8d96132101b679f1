// Package static holds the dashboard's stylesheets, scripts, icon and the
// third-party assets that `make assets` copies from npm into vendor/.
package static

import "embed"

// FS holds every static file, served under /static/.
//
//go:embed css img js vendor
var FS embed.FS
