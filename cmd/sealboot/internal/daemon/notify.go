package daemon

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// Notifier tells systemd about the daemon's state (sd_notify). Outside
// systemd (no NOTIFY_SOCKET) every call does nothing.
type Notifier struct {
	Log *zap.Logger
}

func (n Notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.Log.Warn("sd_notify failed", zap.String("state", state), zap.Error(err))
	}
}

// Ready reports that every listener is up.
func (n Notifier) Ready(status string) { n.send(daemon.SdNotifyReady + "\nSTATUS=" + status) }

// Reloading reports that a reload (SIGHUP) has started; call Ready after it.
func (n Notifier) Reloading() {
	n.send(daemon.SdNotifyMonotonicUsec() + daemon.SdNotifyReloading)
}

// Stopping reports that the daemon is stopping.
func (n Notifier) Stopping() { n.send(daemon.SdNotifyStopping) }

// Status sets the status line `systemctl status` shows.
func (n Notifier) Status(status string) { n.send("STATUS=" + status) }

// Watchdog pings systemd's watchdog at half its interval until ctx is done,
// when the unit sets WatchdogSec=.
func (n Notifier) Watchdog(ctx context.Context) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.send(daemon.SdNotifyWatchdog)
		}
	}
}
