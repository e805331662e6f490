print("lorakit")
