# Throughput and p99 latency against wrk connections, one line per server.
# Called by bench/run.sh:
#   gnuplot -e "dir='bench/results/latest'; out='x.png'; subtitle='...'" bench/report/connections.gp
# Reads dir/sweep-<server>.tsv: no header, columns conns, rps, p50_us, p99_us, one row per
# connection count in increasing order.
set terminal pngcairo size 1200,520 font "sans,10"
set output out
set datafile separator "\t"
set key top left
set grid
set logscale x 2
set xrange [0.7:360]
set xtics ("1" 1, "4" 4, "16" 16, "64" 64, "256" 256)
set xlabel "connections (wrk -t1 -cN, GET /api/products/{1..1000})"
servers = "catalog-cache actix-floor express-seed"
set multiplot layout 1,2 title "catalog-cache (L1 hits), actix-floor, express-seed: ".subtitle
set title "throughput"
set ylabel "requests/s"
set yrange [0:*]
plot for [s in servers] dir."/sweep-".s.".tsv" using 1:2 with linespoints lw 2 pt 7 title s
set title "p99 latency (log scale)"
set ylabel "p99 (ms)"
set logscale y
set yrange [*:*]
plot for [s in servers] dir."/sweep-".s.".tsv" using 1:($4 / 1000.0) with linespoints lw 2 pt 7 title s
unset multiplot
