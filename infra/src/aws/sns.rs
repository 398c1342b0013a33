//! SMS on AWS: Amazon SNS, publishing straight to a phone number.
//!
//! A message is `Transactional` (delivered ahead of promotional traffic,
//! and past do-not-disturb lists where the carrier allows). The number
//! goes to SNS in E.164 (`+86…`); an error is reported by its code only,
//! since SNS's message for a refused number repeats the number.
//!
//! What the emulator cannot show (docs/RELIABILITY.md): the account's SMS
//! sandbox (only verified numbers until AWS lifts it), the monthly spend
//! limit (USD 1 by default), and the sender registration mainland China
//! requires. A deployment settles those with AWS before it turns SMS on.

use async_trait::async_trait;
use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::types::MessageAttributeValue;
use subsidy_core::notify::sms::{Notifier, SmsMessage};

pub fn sns_client(sdk: &aws_config::SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(sdk)
}

/// Sends each message with one SNS `Publish`.
#[derive(Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client) -> SnsNotifier {
        SnsNotifier { client }
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn send(&self, message: &SmsMessage) -> Result<(), String> {
        let kind = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| e.to_string())?;
        self.client
            .publish()
            .phone_number(format!("+86{}", message.to.as_str()))
            .message(&message.text)
            .message_attributes("AWS.SNS.SMS.SMSType", kind)
            .send()
            .await
            .map_err(|e| match e.code() {
                Some(code) => format!("sns: {code}"),
                None => "sns: no answer".to_string(),
            })?;
        Ok(())
    }
}
