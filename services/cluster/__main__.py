from services.cluster.main import main

main()
