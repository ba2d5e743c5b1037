package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// report prints the result: the process's memory, then the resident pages
// of the executable by family, the top ones first.
func report(w io.Writer, r result, top int) {
	args, after, status, byFamily := r.args, r.after, r.status, r.byFamily
	fmt.Fprintf(w, "`chaosnight %s` after %s: VmRSS %s, of which RssAnon %s and RssFile %s; VmHWM %s\n\n",
		strings.Join(args, " "), after, kib(status["VmRSS"]), kib(status["RssAnon"]), kib(status["RssFile"]), kib(status["VmHWM"]))
	type row struct {
		name  string
		bytes int64
	}
	var rows []row
	var total int64
	for k, v := range byFamily {
		rows = append(rows, row{k, v})
		total += v
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].bytes > rows[j].bytes || rows[i].bytes == rows[j].bytes && rows[i].name < rows[j].name
	})
	fmt.Fprintf(w, "| resident pages of the executable (%s in all) | KiB |\n| --- | ---: |\n", kib(total/1024))
	for i, r := range rows {
		if i == top {
			var rest int64
			for _, r := range rows[i:] {
				rest += r.bytes
			}
			fmt.Fprintf(w, "| %d others | %d |\n", len(rows)-i, rest/1024)
			break
		}
		fmt.Fprintf(w, "| %s | %d |\n", r.name, r.bytes/1024)
	}
}

func kib(v int64) string { return fmt.Sprintf("%.1f MiB", float64(v)/1024) }
