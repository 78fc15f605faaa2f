print("atelier-bench")
