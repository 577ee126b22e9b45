//! The trained model and its bytes.
//!
//! Layout (little-endian), version 1:
//! ```text
//! "KMOD" u8:version u8:algorithm(0 K-Modes, 1 K-Prototypes) f64:gamma
//! u32:k u32:m u32:p
//! m × categorical column: str:name u8:source
//!       source 0 (levels): u32:count, count × str
//!       source 1 (numeric values as categories): u32:count, count × f64
//! p × numeric column: str:name f64:shift f64:scale
//! k × m u32: mode of each cluster, as a level index of its column
//! k × p f64: centroid of each cluster (in standardised units when shift/scale apply)
//! ```
//! where `str` is u32 byte length + UTF-8.

use crate::data::{Algorithm, CatColumn, CatSource, NumColumn, Schema};

const MAGIC: &[u8; 4] = b"KMOD";
const VERSION: u8 = 1;

#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub algorithm: Algorithm,
    pub gamma: f64,
    pub k: usize,
    pub schema: Schema,
    /// k × m level indices (not slots: slots depend on the table being encoded).
    pub modes: Vec<u32>,
    pub means: Vec<f64>,
}

impl Model {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        out.push(match self.algorithm {
            Algorithm::KModes => 0,
            Algorithm::KPrototypes => 1,
        });
        out.extend(self.gamma.to_le_bytes());
        for n in [self.k, self.schema.cat.len(), self.schema.num.len()] {
            out.extend((n as u32).to_le_bytes());
        }
        for c in &self.schema.cat {
            put_str(&mut out, &c.name);
            match &c.source {
                CatSource::Levels(levels) => {
                    out.push(0);
                    out.extend((levels.len() as u32).to_le_bytes());
                    levels.iter().for_each(|l| put_str(&mut out, l));
                }
                CatSource::Values(values) => {
                    out.push(1);
                    out.extend((values.len() as u32).to_le_bytes());
                    values.iter().for_each(|v| out.extend(v.to_le_bytes()));
                }
            }
        }
        for c in &self.schema.num {
            put_str(&mut out, &c.name);
            out.extend(c.shift.to_le_bytes());
            out.extend(c.scale.to_le_bytes());
        }
        self.modes.iter().for_each(|m| out.extend(m.to_le_bytes()));
        self.means.iter().for_each(|m| out.extend(m.to_le_bytes()));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, String> {
        let body = bytes.strip_prefix(MAGIC).ok_or("not a kmodes model (bad magic)")?;
        let mut r = Reader { bytes: body };
        let version = r.u8()?;
        if version != VERSION {
            return Err(format!("kmodes model version {version} is not supported (this plugin reads {VERSION})"));
        }
        let algorithm = match r.u8()? {
            0 => Algorithm::KModes,
            1 => Algorithm::KPrototypes,
            other => return Err(format!("unknown algorithm {other} in model")),
        };
        let gamma = r.f64()?;
        let (k, m, p) = (r.len()?, r.len()?, r.len()?);
        let mut schema = Schema { cat: Vec::with_capacity(m.min(4096)), num: Vec::with_capacity(p.min(4096)) };
        for _ in 0..m {
            let name = r.str()?;
            let source = match r.u8()? {
                0 => CatSource::Levels((0..r.len()?).map(|_| r.str()).collect::<Result<_, _>>()?),
                1 => CatSource::Values((0..r.len()?).map(|_| r.f64()).collect::<Result<_, _>>()?),
                other => return Err(format!("unknown column source {other} in model")),
            };
            schema.cat.push(CatColumn { name, source });
        }
        for _ in 0..p {
            schema.num.push(NumColumn { name: r.str()?, shift: r.f64()?, scale: r.f64()? });
        }
        // In u128: on wasm32 a corrupt k × m could overflow usize.
        if k as u128 * m as u128 * 4 + k as u128 * p as u128 * 8 != r.bytes.len() as u128 {
            return Err("model size does not match its cluster and column counts (truncated or corrupt)".into());
        }
        let (cells, centroids) = (k * m, k * p);
        let modes: Vec<u32> = (0..cells).map(|_| r.u32()).collect::<Result<_, _>>()?;
        let means: Vec<f64> = (0..centroids).map(|_| r.f64()).collect::<Result<_, _>>()?;
        for (idx, &level) in modes.iter().enumerate() {
            if level as usize >= schema.cat[idx % m].n_levels() {
                return Err("a mode refers to a level the model does not have".into());
            }
        }
        if k == 0 {
            return Err("model has no cluster".into());
        }
        Ok(Model { algorithm, gamma, k, schema, modes, means })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u32).to_le_bytes());
    out.extend(s.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.bytes.len() < n {
            return Err("truncated model".into());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    /// A count; bounded by the bytes left so that a corrupt count cannot make us
    /// allocate gigabytes before failing.
    fn len(&mut self) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n > self.bytes.len() + (1 << 20) {
            return Err("corrupt model sizes".into());
        }
        Ok(n)
    }

    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn str(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "model string is not UTF-8".to_string())
    }
}
