package schedule

// Time zones are embedded (about 450 KB) because minimal container images
// (scratch, distroless static) have no /usr/share/zoneinfo: without them
// every night's timezone would fail to load in the cluster while loading
// fine on a laptop. Go only falls back to this copy when the system has
// none.
import _ "time/tzdata"
