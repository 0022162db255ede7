package recordings

import "time"

// Clock is the time a Player plays by; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// TimerAt returns a channel that receives once the clock reaches
	// deadline, and a function that stops the timer. An absolute deadline,
	// so time that passes between reading the clock and setting the timer
	// is not lost.
	TimerAt(deadline time.Time) (<-chan time.Time, func())
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// TimerAt is time.NewTimer until deadline.
func (SystemClock) TimerAt(deadline time.Time) (<-chan time.Time, func()) {
	t := time.NewTimer(time.Until(deadline))
	return t.C, func() { t.Stop() }
}
