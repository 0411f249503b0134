package publicmask

import (
	"time"
	_ "time/tzdata" // the rules are in Korea time whatever the host has installed
)

// Seoul is Korea's time zone, Asia/Seoul from the embedded time zone
// database: the rules, the dates and every time the service shows are in it.
var Seoul = mustLoad("Asia/Seoul")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		// Cannot happen with time/tzdata embedded; fail loudly rather than
		// silently judging sales in the host's zone.
		panic("publicmask: " + name + ": " + err.Error())
	}
	return loc
}
