//go:build !linux

package load

import (
	"context"
	"time"
)

// openLoop: elsewhere open-loop runs use the goroutine per connection.
var openLoop func(ctx context.Context, spec Spec, workers []*worker) (time.Duration, error)
