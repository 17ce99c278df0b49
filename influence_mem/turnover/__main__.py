from influence_mem.turnover.main import run

run()
