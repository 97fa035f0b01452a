package sys

import "time"

// PollWait blocks in poll(2) until one of fds is ready, or timeout passes
// (rounded up to whole milliseconds, so a short timeout sleeps instead of
// spinning; < 0 waits without limit). The last entry of fds must be ev's
// descriptor (a device's wake-up eventfd): if it fired, ev is drained so the
// next wait sleeps again. An interrupted poll (EINTR) is not an error.
func PollWait(fds []PollFd, ev Event, timeout time.Duration) error {
	_, err := Poll(fds, PollTimeout(timeout))
	if fds[len(fds)-1].Revents != 0 {
		ev.Drain()
	}
	if err == EINTR {
		return nil
	}
	return err
}

// PollTimeout converts a wait timeout to poll's milliseconds, rounding up.
func PollTimeout(t time.Duration) int {
	if t < 0 {
		return -1
	}
	return int(min((t+time.Millisecond-1)/time.Millisecond, 1<<30))
}
