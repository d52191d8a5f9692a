"""Read relations of the schema `main` from the Spark warehouse of a data dir and pickle them as
{name: (columns, rows)}; run in its own process by test_parity.py, so that no Spark session of the test process holds
the metastore (embedded Derby: one process at a time) while dbt runs.

    python tests/spark/spark_marts.py DATA_DIR OUT_FILE NAME [NAME ...]
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from pathlib import Path


def main(data_dir: Path, out: Path, names: list[str]) -> None:
    os.environ["TZ"] = "UTC"  # pyspark turns timestamps into naive datetimes in the process's time zone
    time.tzset()
    from pyspark.sql import SparkSession

    spark_dir = data_dir / "spark"
    spark = (SparkSession.builder.enableHiveSupport()
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.decimalOperations.allowPrecisionLoss", "false")
             .config("spark.sql.timeType.enabled", "true")
             .config("spark.sql.ansi.enabled", "false")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.warehouse.dir", str(spark_dir / "warehouse"))
             .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                     f"jdbc:derby:;databaseName={spark_dir / 'metastore_db'};create=true")
             .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={spark_dir}")
             .getOrCreate())
    try:
        marts = {}
        for name in names:
            frame = spark.table(f"main.{name}")
            marts[name] = (list(frame.columns), [tuple(row) for row in frame.collect()])
    finally:
        spark.stop()
    out.write_bytes(pickle.dumps(marts))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])
