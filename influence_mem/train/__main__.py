from influence_mem.train.main import run

run()
