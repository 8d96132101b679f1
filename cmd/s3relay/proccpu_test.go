package main_test

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100 on
// every Linux architecture Go runs on).
const userHZ = 100

// cpuByProgram is CPU time (user and system) by program: the processes this
// test process started and theirs (replicas, PostgreSQL and its backends,
// MinIO), keyed by their command name, and this process itself under "bench"
// (the benchmark's clients). A process's reaped children count with it, so a
// PostgreSQL backend that exited counts with the postmaster. Empty where
// there is no /proc.
type cpuByProgram map[string]time.Duration

// readCPU reads the CPU time of this process and its descendants; programs
// are grouped by the prefix of their command name given in names (others
// count under their own name).
func readCPU(names ...string) cpuByProgram {
	type proc struct {
		ppid, ticks int64
		comm        string
	}
	self := int64(os.Getpid())
	procs := map[int64]proc{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // it exited meanwhile
		}
		// pid (comm) state ppid ... utime stime cutime cstime: the command
		// name may hold spaces and parentheses, so split after the last ')'.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 15 {
			continue
		}
		sum := func(fields ...int) (ticks int64) {
			for _, i := range fields {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				ticks += v
			}
			return ticks
		}
		p := proc{comm: s[open+1 : end], ticks: sum(11, 12)} // utime, stime
		p.ppid, _ = strconv.ParseInt(f[1], 10, 64)
		// Reaped children's times (cutime, cstime), except this process's:
		// its children are the killed replicas, counted while they ran.
		if pid != self {
			p.ticks += sum(13, 14)
		}
		procs[pid] = p
	}
	descends := func(pid int64) bool {
		for i := 0; i < 64 && pid > 1; i++ {
			if pid == self {
				return true
			}
			pid = procs[pid].ppid
		}
		return false
	}
	out := cpuByProgram{}
	for pid, p := range procs {
		if !descends(pid) {
			continue
		}
		name := p.comm
		if pid == self {
			name = "bench"
		}
		for _, n := range names {
			if strings.HasPrefix(name, n) {
				name = n
			}
		}
		out[name] += time.Duration(p.ticks) * time.Second / userHZ
	}
	return out
}

// since is the CPU time used by each program from before to c.
func (c cpuByProgram) since(before cpuByProgram) cpuByProgram {
	out := cpuByProgram{}
	for name, d := range c {
		out[name] = d - before[name]
	}
	return out
}
