//! The Apache Kafka jars, resolved from Maven Central with `mvn` and cached outside the repository.
//!
//! A minimal `pom.xml` in `<cache>/kafka-<version>/` depends on the Kafka
//! server artifact, the Kafka command line tools and an SLF4J 1.7 binding (so
//! the broker writes a log);
//! `mvn dependency:build-classpath` downloads the jars into the local Maven
//! repository (`~/.m2`) and writes the classpath to `classpath.txt`. Later runs
//! read that file and only check that every jar is still there.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::util::tail;

/// The Apache Kafka version the test broker runs.
pub const KAFKA_VERSION: &str = "4.1.1";
/// Scala build of the Kafka server artifact.
const SCALA_VERSION: &str = "2.13";
/// SLF4J 1.7 binding: Kafka 4.1 logs through slf4j-api 1.7, which ignores 2.x bindings.
const SLF4J_SIMPLE_VERSION: &str = "1.7.36";
/// Pinned so that resolution does not depend on what Maven picks as "latest".
const DEPENDENCY_PLUGIN_VERSION: &str = "3.8.1";

/// The cache root: `$KAFCLAW_CACHE_DIR`, else `$XDG_CACHE_HOME/kafclaw`, else `~/.cache/kafclaw`.
pub fn default_cache_dir() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = var("KAFCLAW_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("kafclaw");
    }
    match var("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("kafclaw"),
        None => std::env::temp_dir().join("kafclaw-cache"),
    }
}

/// A resolved Kafka installation: a Java classpath of jars in the local Maven repository.
#[derive(Debug, Clone)]
pub struct KafkaRuntime {
    dir: PathBuf,
    classpath: String,
}

impl KafkaRuntime {
    /// Returns the cached runtime under `cache_dir`, resolving it with Maven first if needed.
    pub fn ensure(cache_dir: &Path) -> Result<Self> {
        let dir = cache_dir.join(format!("kafka-{KAFKA_VERSION}"));
        let cp_file = dir.join("classpath.txt");
        let pom = dir.join("pom.xml");
        let pom_text = pom_xml();
        // A changed pom (say, a new artifact) means the cached classpath is stale.
        if std::fs::read_to_string(&pom).is_ok_and(|p| p == pom_text)
            && let Ok(runtime) = Self::load(&dir, &cp_file)
        {
            return Ok(runtime);
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        std::fs::write(&pom, &pom_text).map_err(|e| Error::io("write", &pom, e))?;
        // Write to a private file and rename, so a concurrent reader never sees half a classpath.
        let tmp = dir.join(format!("classpath.txt.{}", std::process::id()));
        let output = Command::new(mvn_program())
            .current_dir(&dir)
            .args(["-B", "-q", "-f"])
            .arg(&pom)
            .arg("dependency:build-classpath")
            .arg(format!("-Dmdep.outputFile={}", tmp.display()))
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                program: mvn_program(),
                hint: "Maven is needed to fetch Apache Kafka from Maven Central; install it (Debian: apt-get install maven) or set MVN",
                source,
            })?;
        if !output.status.success() {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            let _ = std::fs::remove_file(&tmp);
            // Without the pom the next run resolves again instead of trusting an old classpath.
            let _ = std::fs::remove_file(&pom);
            return Err(Error::Command {
                what: format!(
                    "resolving Apache Kafka {KAFKA_VERSION} with `mvn` in {}",
                    dir.display()
                ),
                status: output.status,
                output_tail: tail(&text, 30),
            });
        }
        std::fs::rename(&tmp, &cp_file).map_err(|e| Error::io("rename into", &cp_file, e))?;
        Self::load(&dir, &cp_file)
    }

    fn load(dir: &Path, cp_file: &Path) -> Result<Self> {
        let classpath =
            std::fs::read_to_string(cp_file).map_err(|e| Error::io("read", cp_file, e))?;
        let classpath = classpath.trim().to_owned();
        let bad = |reason: String| Error::Classpath {
            path: cp_file.to_owned(),
            reason,
        };
        if !classpath.contains(&format!("kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar")) {
            return Err(bad(format!(
                "no kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar in it"
            )));
        }
        if let Some(missing) = classpath.split(':').find(|jar| !Path::new(jar).is_file()) {
            return Err(bad(format!("{missing} does not exist")));
        }
        Ok(KafkaRuntime {
            dir: dir.to_owned(),
            classpath,
        })
    }

    /// The directory holding `pom.xml` and `classpath.txt`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The Java classpath (jar paths joined by `:`).
    pub fn classpath(&self) -> &str {
        &self.classpath
    }

    /// A `java` command for one of Kafka's command line tools (`main_class`,
    /// e.g. `org.apache.kafka.tools.TopicCommand`): Kafka classpath, 256 MB
    /// heap, only warnings logged. Add the tool's arguments and run it.
    pub fn java(&self, main_class: &str) -> Command {
        self.jvm("256m", "warn", main_class)
    }

    /// A `java` command with the Kafka classpath, a heap limit and an SLF4J log level.
    pub(crate) fn jvm(&self, heap: &str, log_level: &str, main_class: &str) -> Command {
        let mut cmd = Command::new(java_program());
        cmd.arg(format!("-Xmx{heap}"))
            .arg("-Djava.awt.headless=true")
            .arg(format!(
                "-Dorg.slf4j.simpleLogger.defaultLogLevel={log_level}"
            ))
            .arg("-Dorg.slf4j.simpleLogger.showDateTime=true")
            .arg("-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS")
            .arg("-Dorg.slf4j.simpleLogger.levelInBrackets=true")
            .arg("-cp")
            .arg(&self.classpath)
            .arg(main_class)
            .stdin(Stdio::null());
        cmd
    }
}

/// `$JAVA_HOME/bin/java` when it exists, else `java` from PATH.
pub(crate) fn java_program() -> PathBuf {
    if let Some(home) = std::env::var_os("JAVA_HOME").filter(|v| !v.is_empty()) {
        let java = PathBuf::from(home).join("bin").join("java");
        if java.is_file() {
            return java;
        }
    }
    PathBuf::from("java")
}

pub(crate) const JAVA_HINT: &str = "Java 17+ runs the Kafka broker; install a JDK (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME";

fn mvn_program() -> String {
    std::env::var("MVN")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "mvn".to_owned())
}

fn pom_xml() -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by kafclaw-testkit: the jars of the KafClaw test broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.kafclaw.test</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{SCALA_VERSION}</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <!-- the command line tools (TopicCommand, ConsumerGroupCommand, ...) for tests and devs -->
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>{KAFKA_VERSION}</version>
      <exclusions>
        <!-- Kafka Connect (and its Jetty/Jersey stack) is only for the connect tools -->
        <exclusion>
          <groupId>org.apache.kafka</groupId>
          <artifactId>connect-runtime</artifactId>
        </exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-simple</artifactId>
      <version>{SLF4J_SIMPLE_VERSION}</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{DEPENDENCY_PLUGIN_VERSION}</version>
      </plugin>
    </plugins>
  </build>
</project>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_classpath_with_a_missing_jar_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let cp = dir.join("classpath.txt");
        std::fs::write(
            &cp,
            format!("/nonexistent/kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar\n"),
        )
        .unwrap();
        let err = KafkaRuntime::load(dir, &cp).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        std::fs::write(&cp, "/bin/sh\n").unwrap();
        let err = KafkaRuntime::load(dir, &cp).unwrap_err();
        assert!(err.to_string().contains("no kafka_"), "{err}");
    }
}
