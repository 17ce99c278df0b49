from influence_mem.bench.packed import run

run()
